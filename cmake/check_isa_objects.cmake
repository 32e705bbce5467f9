# Fails when an object compiled with ISA flags (*_avx2.cpp, *_avx512.cpp) defines a weak
# symbol (an inline function or template instance the linker could pick for baseline code).
# Usage: cmake -DNM=<nm> -DOBJECTS=<list> -P check_isa_objects.cmake
foreach(obj IN LISTS OBJECTS)
  if(NOT obj MATCHES "_(avx2|avx512)\\.cpp\\.o(bj)?$")
    continue()
  endif()
  execute_process(COMMAND ${NM} --defined-only ${obj} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_isa_objects: ${NM} failed on ${obj}")
  endif()
  string(REGEX MATCHALL "[^\n]* [WVu] [^\n]*" weak "${syms}")
  # DW.ref.__gxx_personality_v0 is data (a pointer to the C++ unwinder's routine), not code.
  list(FILTER weak EXCLUDE REGEX " DW\\.ref\\.")
  if(weak)
    string(REPLACE ";" "\n  " weak "${weak}")
    message(FATAL_ERROR "check_isa_objects: ${obj} defines weak symbols compiled with ISA flags "
                        "(move them into an anonymous namespace or out of the ISA file):\n  ${weak}")
  endif()
endforeach()
