# Runs scdoc on IN, writing OUT (scdoc reads stdin and writes stdout only).
# A failure removes the half-written OUT so the next build tries again.
execute_process(COMMAND ${SCDOC} INPUT_FILE ${IN} OUTPUT_FILE ${OUT}.tmp
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "scdoc failed on ${IN}: ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
