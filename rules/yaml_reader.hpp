#pragma once
// Typed, located access to one parsed YAML file: every read that fails records a Diagnostic at the
// node's FILE:LINE:COL and returns nullopt, so that loading goes on and reports every problem.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/diagnostic.hpp"
#include "rules/pricing_model.hpp"

namespace rules {

class YamlReader {
 public:
  // `dir`: the folder of `file`, from which relative paths resolve.
  YamlReader(std::string file, std::string dir, std::vector<Diagnostic>& errors)
      : file_(std::move(file)), dir_(std::move(dir)), errors_(errors) {}

  const std::string& file() const { return file_; }
  const std::string& dir() const { return dir_; }
  Mark mark(const YAML::Node& node) const;
  void error(const YAML::Node& node, std::string message);
  void error(const Mark& mark, std::string message);

  // True when `node` is a mapping (else reports "'what' must be a mapping"); reports each key not
  // in `allowed` as "unknown key 'k' in what" with a suggestion when one is close.
  bool expect_map(const YAML::Node& node, std::string_view what,
                  std::initializer_list<std::string_view> allowed);
  bool expect_sequence(const YAML::Node& node, std::string_view what);

  // Scalar readers: `key` names the value in messages. The text is ${ENV}-expanded first.
  std::optional<std::string> string(const YAML::Node& node, std::string_view key);
  std::optional<std::int64_t> integer(const YAML::Node& node, std::string_view key,
                                      std::int64_t min = 0);
  std::optional<std::int64_t> amount(const YAML::Node& node, std::string_view key);  // micros
  std::optional<bool> boolean(const YAML::Node& node, std::string_view key);
  std::optional<std::chrono::milliseconds> duration(const YAML::Node& node, std::string_view key);
  std::optional<int> percentage(const YAML::Node& node, std::string_view key);
  std::optional<ValueRef> value_ref(const YAML::Node& node, std::string_view key);
  // A scalar or a sequence of scalars.
  std::optional<std::vector<std::string>> strings(const YAML::Node& node, std::string_view key);
  std::vector<ValueRef> value_refs(const YAML::Node& node, std::string_view key);
  // One of `choices`; reports "'key' must be a, b or c, got 'x'".
  std::optional<std::string> choice(const YAML::Node& node, std::string_view key,
                                    std::initializer_list<std::string_view> choices);

  // `path` made absolute from this file's folder.
  std::string path(const std::string& path) const;

  std::vector<Diagnostic>& errors() { return errors_; }

 private:
  std::string file_, dir_;
  std::vector<Diagnostic>& errors_;
};

}  // namespace rules
