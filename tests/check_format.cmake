# Fails when any C file differs from what clang-format would write.
file(GLOB_RECURSE files "${ROOT}/src/*.[ch]" "${ROOT}/include/*.h" "${ROOT}/channels/*.[ch]" "${ROOT}/desk/*.[ch]"
     "${ROOT}/tests/*.[ch]" "${ROOT}/bench/*.[ch]")
execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${files} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "clang-format: the files above need formatting (run clang-format -i)")
endif()
