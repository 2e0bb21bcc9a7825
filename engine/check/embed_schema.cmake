# Turns schema/NAME.schema.json into a .cc holding it as a raw string (NAME_schema_text()), at
# build time, so the validator always uses the schema editors see. Run as:
# cmake -DIN=... -DOUT=... -DNAME=chain|layout -P this.
file(READ "${IN}" SCHEMA)
string(FIND "${SCHEMA}" ")${NAME}_schema\"" CLASH)
if(NOT CLASH EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )${NAME}_schema\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from schema/${NAME}.schema.json by engine/check/embed_schema.cmake.\n#include \"check/schema.h\"\n\nnamespace chainconv {\n\nconst std::string& ${NAME}_schema_text() {\n  static const std::string text = R\"${NAME}_schema(${SCHEMA})${NAME}_schema\";\n  return text;\n}\n\n}  // namespace chainconv\n")
file(RENAME "${OUT}.tmp" "${OUT}")
