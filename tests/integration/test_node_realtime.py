"""The openai Node SDK's realtime WebSocket clients through a real tollgate as an HTTPS proxy:
OpenAIRealtimeWS (ws, Authorization), OpenAIRealtimeWebSocket (the key as a subprotocol, over
ws) and a bare ws WebSocket that speaks the protocol itself and offers permessage-deflate, driven by tests/node/realtime_through_tollgate.mjs against the GA Realtime stand-in. Each
session admits exactly the four responses its 0.006 USD budget fits (see test_realtime.py for the
arithmetic), the SDK raises the fifth's refusal as its own error with code budget_exceeded, the
socket closes 1008, the client hears the 50 % warning as an ordinary event, and the ledger
equals the stand-in's bill.

Needs node and tests/node/node_modules (`scripts/install-deps` runs `npm ci` there)."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from node_script import NODE_DIR, NodeScriptChecks, run_node_script  # noqa: E402
from budget_support import micros, wait_for  # noqa: E402
from harness import tollgate_bin  # noqa: E402
from test_realtime import PER_RESPONSE, RealtimeTestCase, start_with_realtime  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(NODE_DIR, "realtime_through_tollgate.mjs")
RULES = """
clients: { identify: "header:x-client" }
budgets:
  - { name: rt-session, currency: usd, limit: 0.006, per: session, period: total, alerts: [50%],
      warn_client: true }
  - { name: rt-key, currency: usd, limit: 10, per: credential }
"""


class NodeRealtimeTest(NodeScriptChecks, RealtimeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = start_with_realtime(RULES, store="memory")
        cls.run_, cls.out = run_node_script(
            SCRIPT, {"TOLLGATE_PROXY": cls.h.proxy_url, "NODE_EXTRA_CA_CERTS": cls.h.ca_bundle},
            modules=("openai", "ws", "https-proxy-agent"), timeout=90)

    def check_client(self, name, test_id):
        out = self.out[name]
        self.assertFalse(out.get("timed_out"), out)
        self.assertEqual(out["completed"], 4, out)
        self.assertEqual(out["error"]["error"]["code"], "budget_exceeded", out)
        self.assertEqual(out["error"]["error"]["type"], "invalid_request_error")
        self.assertEqual(out["close"]["code"], 1008)
        self.assertEqual(out["close"]["reason"], "tollgate: budget 'rt-session' exhausted")
        self.assertEqual([w["percent"] for w in out["warnings"]], [50])
        self.assertEqual(self.h.realtime.sent(test_id, "response.create").__len__(), 4)
        session = out["session"]
        self.assertTrue(session and session.startswith("rt-"), out)
        charged = self.charged(test_id)
        self.assertEqual(charged, 4 * PER_RESPONSE)
        self.assertEqual(self.session_spent("rt-session", session), charged)
        return out

    def test_openai_realtime_ws_with_authorization(self):
        self.check_client("ws", "node-ws")
        hs = [x for x in self.h.realtime.handshakes if x["test_id"] == "node-ws"][0]
        self.assertEqual(hs["headers"]["authorization"], "Bearer sk-node-rt")
        self.assertNotIn("sec-websocket-extensions", hs["headers"])  # ws offers it; not upstream

    def test_openai_realtime_websocket_with_the_key_as_subprotocol(self):
        out = self.check_client("browser", "node-browser")
        self.assertEqual(out["protocol"], "realtime")
        hs = [x for x in self.h.realtime.handshakes if x["test_id"] == "node-browser"][0]
        self.assertNotIn("authorization", hs["headers"])
        key_id = subprocess.run([tollgate_bin(), "key-id", "sk-node-rt"], capture_output=True,
                                text=True, check=True).stdout.strip()
        # Both clients' responses landed on the one key, however it travelled.
        inst = wait_for(lambda: self.h.settled("rt-key", key_id))
        self.assertEqual(micros(inst["spent"]),
                         self.charged("node-ws") + self.charged("node-browser") +
                         self.charged("node-plain"))

    def test_a_plain_ws_client_that_offers_compression(self):
        out = self.check_client("plain", "node-plain")
        self.assertEqual(out["extensions"], "")  # offered permessage-deflate, got plain frames
        hs = [x for x in self.h.realtime.handshakes if x["test_id"] == "node-plain"][0]
        self.assertEqual(hs["headers"]["authorization"], "Bearer sk-node-rt")
        self.assertNotIn("sec-websocket-extensions", hs["headers"])


if __name__ == "__main__":
    unittest.main()
