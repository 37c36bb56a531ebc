# Warnings for the project's own targets (never for third-party code).
function(refusal_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion -Wnon-virtual-dtor
                                           # designated initialisers leave defaults on purpose
                                           -Wno-missing-field-initializers)
endfunction()
