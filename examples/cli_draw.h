/* fnet CLI: draw commands (included by examples/fnet.c). Placeholder until the stage lands. */
static int cli_draw_dispatch(const char *cmd, int argc, char **argv) {
    (void)cmd; (void)argc; (void)argv;
    return -1;
}
