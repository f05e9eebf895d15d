# shellcheck shell=bash
# hack/lib/critest-images.sh: the parts of critest's images (cri-tools v1.37 pkg/validate) that
# are more than busybox plus a file: real nginx, real Apache httpd (both from Debian packages,
# unpacked with dpkg-deb, never installed on the host), the setuid `nonewprivs` helper
# (hack/images/nonewprivs), and for the default busybox image Debian's dynamically linked busybox
# (its shell execs commands, unlike busybox-static's) and util-linux's `ipcs`.
# Sourced by hack/cluster; uses its ROOT, CACHE, LOCAL, LOGDIR, log, die, derive and DERIVE_DIR.
#
# Debian packages are fetched with `apt-get download` once and kept in $CACHE/debs, so a rebuild
# of the images costs no network and a few seconds.

CRITEST_DEBS="$CACHE/debs"

# fetch_debs PKG...: make sure $CRITEST_DEBS holds a .deb of each package (any version; the
# first download is kept), downloading the missing ones. Prints nothing.
fetch_debs() {
  local missing=() p
  mkdir -p "$CRITEST_DEBS"
  for p in "$@"; do
    compgen -G "$CRITEST_DEBS/${p}_*.deb" >/dev/null || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "downloading Debian packages into $CRITEST_DEBS: ${missing[*]}"
  # apt-get download writes into the current directory; _apt cannot write to root's home, so
  # apt warns that it downloads unsandboxed: harmless
  (cd "$CRITEST_DEBS" && apt-get download -q "${missing[@]}" >>"$LOGDIR/images.log" 2>&1) ||
    { apt-get update -qq >>"$LOGDIR/images.log" 2>&1 &&
      (cd "$CRITEST_DEBS" && apt-get download -q "${missing[@]}" >>"$LOGDIR/images.log" 2>&1); } ||
    die "apt-get download ${missing[*]} failed (see $LOGDIR/images.log)"
}

# unpack_debs DIR PKG...: the (cached) packages' files extracted into DIR
unpack_debs() {
  local dir="$1" p f; shift
  fetch_debs "$@"
  mkdir -p "$dir"
  for p in "$@"; do
    for f in "$CRITEST_DEBS/${p}"_*.deb; do dpkg-deb -x "$f" "$dir"; done
  done
}

# copy_libs ROOT PKGROOT BINARY...: copy the shared libraries the BINARYs link (ldd; resolved in
# the unpacked packages under PKGROOT first, then on the host; PKGROOT may be "") into the same
# paths under ROOT. Fails on an unresolved library.
copy_libs() {
  local root="$1" pkg="$2" bin out lib dest path=""; shift 2
  if [[ -n "$pkg" ]]; then
    for lib in "$pkg"/lib/*-linux-gnu* "$pkg"/usr/lib/*-linux-gnu* "$pkg"/usr/lib/*-linux-gnu*/*/; do
      [[ -d "$lib" ]] && path+="${lib%/}:"
    done
  fi
  for bin in "$@"; do
    out="$(LD_LIBRARY_PATH="${path%:}" ldd "$bin" 2>&1)" || die "ldd $bin failed: $out"
    if grep -q 'not found' <<<"$out"; then
      die "ldd $bin: unresolved libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
    fi
    for lib in $(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}' <<<"$out"); do
      dest="$lib"
      if [[ -n "$pkg" && "$lib" == "$pkg"/* ]]; then dest="${lib#"$pkg"}"; fi
      [[ -e "$root$dest" ]] && continue
      mkdir -p "$root$(dirname "$dest")"
      cp -L "$lib" "$root$dest"
      # glibc dlopens libgcc_s for pthread_exit/cancellation (Apache's threaded workers)
      if [[ "$lib" == */libc.so.6 && -e "$(dirname "$lib")/libgcc_s.so.1" ]]; then
        cp -L "$(dirname "$lib")/libgcc_s.so.1" "$root$(dirname "$dest")/"
      fi
    done
  done
}

# add_exec_busybox ROOT: a layer that turns the busybox-static image into one whose shell execs
# commands: Debian's dynamically linked busybox (package busybox, with the libraries it links) at
# /bin/busybox, every one of its applets hard-linked to it as busybox_rootfs does (so masking one
# applet path does not mask the shell), and a whiteout for each applet only busybox-static has, so
# that no static applet is left in the image. Why: busybox-static is built with
# FEATURE_SH_STANDALONE/PREFER_APPLETS, so its `sh -c ls` runs the ls applet in-process and never
# execs /bin/ls; critest's MaskedPaths spec masks /bin/ls and expects `/bin/sh -c ls` to fail with
# "/bin/sh: ls: Permission denied", as with upstream's busybox image, whose shell looks `ls` up in
# PATH (and finds the masked /bin/ls). Debian's busybox package is built without those options.
add_exec_busybox() {
  local root="$1" x="$DERIVE_DIR/busybox-debs" bb a
  [[ -d "$x" ]] || unpack_debs "$x" busybox
  bb="$x/bin/busybox"
  [[ -x "$bb" ]] || die "no bin/busybox in Debian's busybox package (unpacked in $x)"
  # a standalone shell would run the ls applet even with an empty PATH
  if "$bb" sh -c 'PATH=/nonexistent; ls / >/dev/null' 2>/dev/null; then
    die "$bb runs applets without a PATH lookup (FEATURE_SH_STANDALONE): masking /bin/ls would not stop sh -c ls"
  fi
  mkdir -p "$root/bin"
  cp "$bb" "$root/bin/busybox"
  for a in $("$bb" --list-full); do
    [[ "$a" == bin/busybox ]] && continue
    mkdir -p "$root/$(dirname "$a")"
    ln -f "$root/bin/busybox" "$root/$a"
  done
  for a in $(/bin/busybox --list-full); do # the base image's applets (hack/cluster busybox_rootfs)
    [[ "$a" == bin/busybox || -e "$root/$a" ]] && continue
    mkdir -p "$root/$(dirname "$a")"
    : >"$root/$(dirname "$a")/.wh.$(basename "$a")"
  done
  copy_libs "$root" "" "$bb"
}

# add_ipcs ROOT: util-linux's ipcs with its libraries, for critest's default image
# (registry.k8s.io/e2e-test-images/busybox:1.29-2): the HostIpc specs run `ipcs -m` and Debian's
# busybox has no ipcs applet
add_ipcs() {
  local root="$1" ipcs
  ipcs="$(command -v ipcs)" || die "ipcs missing on the host (Debian package util-linux)"
  mkdir -p "$root/usr/bin"
  cp -L "$ipcs" "$root/usr/bin/ipcs"
  copy_libs "$root" "" "$ipcs"
}

# build_nonewprivs: the setuid helper (hack/images/nonewprivs), statically linked so that the
# busybox image needs no libc; rebuilt when its source changes
NONEWPRIVS_BIN="$CACHE/nonewprivs/nonewprivs"
build_nonewprivs() {
  local src="$ROOT/hack/images/nonewprivs"
  if [[ -x "$NONEWPRIVS_BIN" && "$NONEWPRIVS_BIN" -nt "$src/src/main.rs" && "$NONEWPRIVS_BIN" -nt "$src/Cargo.toml" ]]; then return 0; fi
  command -v cargo >/dev/null || die "cargo is needed to build hack/images/nonewprivs (install Rust with rustup)"
  log "building the nonewprivs helper (hack/images/nonewprivs)"
  mkdir -p "$CACHE/nonewprivs"
  (cd "$src" && CARGO_TARGET_DIR="$CACHE/nonewprivs/target" RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked -q) || die "building hack/images/nonewprivs failed"
  cp "$CACHE/nonewprivs/target/release/nonewprivs" "$NONEWPRIVS_BIN"
}

# image_nonewprivs REF BASE: BASE plus /usr/local/bin/nonewprivs, setuid root, as the command
image_nonewprivs() {
  local ref="$1" base="$2" w="$DERIVE_DIR"
  build_nonewprivs
  rm -rf "$w/derive-root"; mkdir -p "$w/derive-root/usr/local/bin"
  cp "$NONEWPRIVS_BIN" "$w/derive-root/usr/local/bin/nonewprivs"
  chmod 4755 "$w/derive-root/usr/local/bin/nonewprivs" # tar_dir stores owner 0
  derive "$ref" "$base"
  crane mutate --set-platform linux/amd64 --cmd /usr/local/bin/nonewprivs -t "$LOCAL/$ref" "$LOCAL/$ref" \
    >/dev/null 2>>"$LOGDIR/images.log" || die "crane mutate $ref failed"
}

# users of the web server images: nginx's (as in the upstream nginx image) and Debian's
web_passwd() {
  local root="$1"
  mkdir -p "$root/etc"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'www-data:x:33:33:www-data:/var/www:/bin/false' \
    'nginx:x:101:101:nginx user:/nonexistent:/bin/false' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'www-data:x:33:' 'nginx:x:101:' 'nogroup:x:65534:' 'nobody:x:65534:' >"$root/etc/group"
}

# image_nginx REF BASE PORT: Debian's nginx on BASE, configured like the upstream nginx image
# (master process plus workers in the foreground, pid file /var/run/nginx.pid, logs to stdout and
# stderr through /proc/self/fd, user nginx) serving /usr/share/nginx/html on PORT (the
# hostnet-nginx image's default.conf listens on 12003, the e2e nginx on 80)
image_nginx() {
  local ref="$1" base="$2" port="$3" w="$DERIVE_DIR" x
  x="$w/nginx-debs"
  [[ -d "$x" ]] || unpack_debs "$x" nginx nginx-common
  rm -rf "$w/derive-root"; local r="$w/derive-root"
  mkdir -p "$r/usr/sbin" "$r/etc/nginx/conf.d" "$r/usr/share/nginx/html" "$r/var/log/nginx" \
    "$r/var/lib/nginx" "$r/var/cache/nginx" "$r/run" "$r/var/lock"
  ln -s ../run "$r/var/run"
  cp "$x/usr/sbin/nginx" "$r/usr/sbin/nginx"
  copy_libs "$r" "$x" "$x/usr/sbin/nginx"
  cp "$x/etc/nginx/mime.types" "$r/etc/nginx/"
  cp "$x/usr/share/nginx/html/index.html" "$r/usr/share/nginx/html/index.html"
  printf '<html><head><title>Error</title></head><body><h1>An error occurred.</h1></body></html>\n' \
    >"$r/usr/share/nginx/html/50x.html"
  # as the upstream image's log symlinks, without relying on the runtime's /dev/std* links
  ln -s /proc/self/fd/1 "$r/var/log/nginx/access.log"
  ln -s /proc/self/fd/2 "$r/var/log/nginx/error.log"
  web_passwd "$r"
  cat >"$r/etc/nginx/nginx.conf" <<'EOF'
user  nginx;
worker_processes  auto;

error_log  stderr notice;
pid        /var/run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /proc/self/fd/1  main;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat >"$r/etc/nginx/conf.d/default.conf" <<EOF
server {
    listen       $port;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
EOF
  derive "$ref" "$base"
  crane mutate --set-platform linux/amd64 --cmd "/usr/sbin/nginx,-g,daemon off;" \
    --exposed-ports "$port/tcp" -t "$LOCAL/$ref" "$LOCAL/$ref" >/dev/null 2>>"$LOGDIR/images.log" ||
    die "crane mutate $ref failed"
}

# image_httpd REF BASE: Debian's Apache (apache2-bin with libapr1/libaprutil1) laid out like the
# upstream httpd image (/usr/local/apache2, `httpd -DFOREGROUND`), serving "It works!" on port 80
# and logging to stdout/stderr; its start-up notices name "httpd", which the multi-container spec
# waits for in the container log
image_httpd() {
  local ref="$1" base="$2" w="$DERIVE_DIR" x m
  x="$w/httpd-debs"
  [[ -d "$x" ]] || unpack_debs "$x" apache2-bin libapr1 libaprutil1 libexpat1
  rm -rf "$w/derive-root"; local r="$w/derive-root" a=/usr/local/apache2
  mkdir -p "$r$a/bin" "$r$a/conf" "$r$a/htdocs" "$r$a/logs" "$r$a/modules"
  cp "$x/usr/sbin/apache2" "$r$a/bin/httpd"
  # the few modules a static site needs (log_config and unixd are built in)
  local mods=(mpm_event authz_core dir mime) objs=("$r$a/bin/httpd")
  for m in "${mods[@]}"; do
    cp "$x/usr/lib/apache2/modules/mod_$m.so" "$r$a/modules/"
    objs+=("$r$a/modules/mod_$m.so")
  done
  copy_libs "$r" "$x" "${objs[@]}"
  echo '<html><body><h1>It works!</h1></body></html>' >"$r$a/htdocs/index.html"
  printf 'text/html\thtml htm\ntext/plain\ttxt\ntext/css\tcss\napplication/javascript\tjs\n' >"$r$a/conf/mime.types"
  web_passwd "$r"
  {
    echo "ServerRoot $a"
    echo 'ServerName localhost'
    echo 'Listen 80'
    for m in "${mods[@]}"; do echo "LoadModule ${m}_module modules/mod_$m.so"; done
    cat <<'EOF'
User www-data
Group www-data
DefaultRuntimeDir logs
PidFile logs/httpd.pid
<Directory />
    AllowOverride none
    Require all denied
</Directory>
DocumentRoot "/usr/local/apache2/htdocs"
<Directory "/usr/local/apache2/htdocs">
    Options FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>
DirectoryIndex index.html
ErrorLog /proc/self/fd/2
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog /proc/self/fd/1 common
TypesConfig conf/mime.types
EOF
  } >"$r$a/conf/httpd.conf"
  derive "$ref" "$base"
  crane mutate --set-platform linux/amd64 --cmd "$a/bin/httpd,-d,$a,-f,conf/httpd.conf,-DFOREGROUND" \
    --exposed-ports 80/tcp -t "$LOCAL/$ref" "$LOCAL/$ref" >/dev/null 2>>"$LOGDIR/images.log" ||
    die "crane mutate $ref failed"
}
