# Turns schema/chain.schema.json into a .cc holding it as a raw string, at build time, so the
# validator always uses the schema editors see. Run as: cmake -DIN=... -DOUT=... -P this.
file(READ "${IN}" SCHEMA)
string(FIND "${SCHEMA}" ")chain_schema\"" CLASH)
if(NOT CLASH EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )chain_schema\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from schema/chain.schema.json by engine/check/embed_schema.cmake.\n#include \"check/schema.h\"\n\nnamespace chainconv {\n\nconst std::string& chain_schema_text() {\n  static const std::string text = R\"chain_schema(${SCHEMA})chain_schema\";\n  return text;\n}\n\n}  // namespace chainconv\n")
file(RENAME "${OUT}.tmp" "${OUT}")
