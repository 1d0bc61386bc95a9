# OpenCV: Debian ships OpenCVConfig.cmake only with the full libopencv-dev meta package (+390 MB).
# densemtl needs core, imgproc and imgcodecs, so use the config when it exists and otherwise find
# the three libraries by name (toolchain facts, section 7).
find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
add_library(densemtl_opencv INTERFACE)
if(OpenCV_FOUND)
  target_include_directories(densemtl_opencv INTERFACE ${OpenCV_INCLUDE_DIRS})
  target_link_libraries(densemtl_opencv INTERFACE ${OpenCV_LIBS})
else()
  find_path(DENSEMTL_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
  foreach(part core imgproc imgcodecs)
    find_library(DENSEMTL_OPENCV_${part} NAMES opencv_${part} REQUIRED)
    target_link_libraries(densemtl_opencv INTERFACE ${DENSEMTL_OPENCV_${part}})
  endforeach()
  target_include_directories(densemtl_opencv INTERFACE ${DENSEMTL_OPENCV_INCLUDE})
endif()
