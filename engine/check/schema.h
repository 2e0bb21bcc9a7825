// Validates YAML against schema/chain.schema.json or schema/layout.schema.json (both
// embedded at build time) with positions.
//
// An interpreter for the subset of JSON Schema the chain schema uses: type, properties,
// required, additionalProperties, propertyNames, enum, const, items, minItems, minLength,
// minimum, pattern, anyOf, oneOf, allOf and $ref (JSON pointers into the same document).
// Every violation is reported, each at the line:col of the offending node, with the value
// found and what was expected; unknown fields are errors.
#pragma once

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "check/finding.h"

namespace chainconv {

// The text of schema/chain.schema.json and schema/layout.schema.json as they were when the
// library was built.
const std::string& chain_schema_text();
const std::string& layout_schema_text();

class SchemaValidator {
 public:
  // Throws Error when the schema uses a keyword this interpreter does not implement (a
  // keyword silently ignored would be a check silently skipped).
  explicit SchemaValidator(nlohmann::json schema);
  // The validators for the embedded chain and layout schemas.
  static const SchemaValidator& chain();
  static const SchemaValidator& layout();

  // Checks `doc` against the definition at `pointer` ("" for the root, "/$defs/chain_file").
  // Findings name `file`.
  std::vector<Finding> validate(const YAML::Node& doc, const std::string& file,
                                const std::string& pointer = "") const;

  const nlohmann::json& schema() const { return schema_; }
  // The schema at a JSON pointer ("/$defs/op"); throws Error if there is none.
  const nlohmann::json& at(const std::string& pointer) const;

 private:
  struct Run;
  nlohmann::json schema_;
};

}  // namespace chainconv
