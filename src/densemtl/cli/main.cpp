#include "densemtl/cli/common.h"

int main(int argc, char** argv) { return densemtl::cli::run_main(argc, argv); }
