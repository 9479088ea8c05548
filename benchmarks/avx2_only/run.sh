#!/bin/sh
# Run a command as if this CPU had AVX2 and no AVX-512 (issue 26: what an AVX2-only CPU, such as an AMD
# Zen 2, would cost). Needs a C compiler and a CPU with CPUID faulting (cpu flag cpuid_fault); see
# hide_avx512.c. PyTorch is told the same with ATEN_CPU_CAPABILITY. Example:
#   sh benchmarks/avx2_only/run.sh .venv/bin/python benchmarks/analysis_profile.py --out /tmp/p.json
set -eu
here=$(cd "$(dirname "$0")" && pwd)
library=${TMPDIR:-/tmp}/moodlens-hide-avx512.so
if [ ! -f "$library" ] || [ "$here/hide_avx512.c" -nt "$library" ]; then
    cc -O2 -shared -fPIC -Wall -Wextra -Werror -o "$library" "$here/hide_avx512.c" -ldl
fi
grep -qw cpuid_fault /proc/cpuinfo || { echo "avx2_only: this CPU has no CPUID faulting (cpuid_fault)" >&2; exit 2; }
LD_PRELOAD="$library${LD_PRELOAD:+:$LD_PRELOAD}" ATEN_CPU_CAPABILITY=avx2 exec "$@"
