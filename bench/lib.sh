# Shared by the bench scripts (source it after setting `here`): paths, log
# lines and the one act install they all measure against.
root="$(cd "$here/.." && pwd)"
act_version="v0.2.89"
gobin="$here/.gobin"

log() { printf '==> %s\n' "$*" >&2; }

# ensure_act builds act with `go install` into bench/.gobin once.
ensure_act() {
  if [[ -x "$gobin/act" ]] && "$gobin/act" --version 2>/dev/null | grep -q "${act_version#v}"; then
    return
  fi
  log "installing act $act_version into $gobin (compiles for a few minutes)"
  mkdir -p "$gobin"
  (cd "$here" && GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/nektos/act@$act_version")
}
