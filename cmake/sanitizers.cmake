# AddressSanitizer + UndefinedBehaviorSanitizer for the test build (infra/test.sh turns it on).
if(CDN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
