# REFUSAL_SANITIZE=ON instruments every target of this build with ASan and UBSan;
# REFUSAL_TSAN=ON with ThreadSanitizer instead (the two cannot be combined).
if(REFUSAL_SANITIZE AND REFUSAL_TSAN)
  message(FATAL_ERROR "REFUSAL_SANITIZE (ASan + UBSan) and REFUSAL_TSAN cannot be combined")
endif()
if(REFUSAL_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(REFUSAL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
