/* fnet CLI: lfw commands (included by examples/fnet.c). Placeholder until the stage lands. */
static int cli_lfw_dispatch(const char *cmd, int argc, char **argv) {
    (void)cmd; (void)argc; (void)argv;
    return -1;
}
