/* wasi_cwd.c - linked into every wasm32-wasi program built here (the fnet CLI, the tests, the
   portable driver): a WASI program has no current directory; wasi-libc emulates one that
   starts at "/". tools/wasm/run_wasi.mjs preopens the host's "/" and passes the host's
   working directory as $PWD; this constructor enters it before main, so relative paths
   (weights/, ../shared, tests/golden) mean what they mean to the native program. It runs
   after wasi-libc's own constructor that registers the preopens (priority 50). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void wasi_enter_pwd(void) {
    const char *pwd = getenv("PWD");
    if (pwd && *pwd == '/' && chdir(pwd) != 0) fprintf(stderr, "wasi_cwd: cannot enter %s\n", pwd);
}
