# Sourced by bench/run.sh and bench/profile.sh: the benchmark upstream's test CA and certificate.
# make_upstream_pki DIR CA_NAME — writes DIR/ca.{crt,key} and DIR/upstream.{crt,key} for
# api.openai.com, *.bench.test and 127.0.0.1 (what the benchmark's nginx serves).
make_upstream_pki() {
  local dir=$1 ca_name=$2
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$ca_name" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=api.openai.com" \
    -keyout "$dir/upstream.key" -out "$dir/upstream.csr" 2>/dev/null
  printf 'subjectAltName=DNS:api.openai.com,DNS:*.bench.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/upstream.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext.cnf" -out "$dir/upstream.crt" 2>/dev/null
}
