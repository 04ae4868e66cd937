# shears_embed_text(INPUT OUTPUT SYMBOL) - writes OUTPUT, a C file that
# defines `const char SYMBOL[]` holding INPUT's text and
# `const size_t SYMBOL_len` (its length), and reconfigures when INPUT
# changes. Declare them `extern` where they are used.
function(shears_embed_text input output symbol)
  file(READ ${input} text)
  string(REPLACE "\\" "\\\\" text "${text}")
  string(REPLACE "\"" "\\\"" text "${text}")
  string(REPLACE "\n" "\\n\"\n\"" text "${text}")
  file(RELATIVE_PATH name ${PROJECT_SOURCE_DIR} ${input})
  file(WRITE ${output}.in
    "/* Generated from ${name} */\n#include <stddef.h>\nconst char ${symbol}[] =\n\"${text}\";\nconst size_t ${symbol}_len = sizeof ${symbol} - 1;\n")
  configure_file(${output}.in ${output} COPYONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${input})
endfunction()
