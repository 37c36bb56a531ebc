# REFUSAL_SANITIZE=ON instruments every target of this build with ASan and UBSan.
if(REFUSAL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
