#!/usr/bin/env bash
# Every C++ file of the repository in the one style of .clang-format (a meson test, suite
# unit): clang-format --dry-run -Werror names each file and line that differs. To fix:
#   git ls-files '*.cpp' '*.hpp' | xargs clang-format-14 -i
set -euo pipefail
cd "$(dirname "$0")/../.."
files=$(git ls-files '*.cpp' '*.hpp')
# shellcheck disable=SC2086
clang-format-14 --dry-run -Werror $files
echo "$(echo "$files" | wc -l) files in the .clang-format style"
