# sluice_module(NAME [DEPS targets...] [PRIVATE_DEPS targets...])
# Builds libs/NAME into the static library sluice_NAME (alias sluice::NAME): public headers in
# include/sluice/NAME/, sources in src/. Our code compiles with warnings as errors.
function(sluice_module name)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(sluice_${name} STATIC ${sources})
  add_library(sluice::${name} ALIAS sluice_${name})
  set_target_properties(sluice_${name} PROPERTIES EXPORT_NAME ${name})  # sluice::NAME for projects built against Sluice
  set_property(GLOBAL APPEND PROPERTY SLUICE_MODULES sluice_${name})
  target_include_directories(sluice_${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(sluice_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  sluice_warnings(sluice_${name})
endfunction()

function(sluice_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()
