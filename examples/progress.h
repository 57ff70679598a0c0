/* progress.h - the progress line of the CLI's long commands (enroll, train-classifier,
   cluster, verify --pairs, eval-lfw, and the tools that embed folders), on stderr:

       enroll: [120/400] 8.4 images/s, ETA 33 s  people/Ada/3.jpg

   a count, a rate and an estimated time left. On a terminal the line is rewritten in place
   (carriage return, cleared to its end) at most ten times a second; in a log or a pipe
   (stderr not a terminal) every report is a whole line ending in a newline, at most one
   every two seconds, and the first and the last are always written.
     progress p;
     progress_start(&p, "enroll", n, "images");
     for (i = 0; i < n; i++) { progress_step(&p, i, path[i]); ...read path[i]... }
     progress_step(&p, n, NULL);  progress_end(&p);
   Before any other message on stderr, call progress_break(&p) (ends a half-written line).
   The clock and the terminal test come from platform.h (POSIX or Windows). */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdio.h>
#include "platform.h"

typedef struct progress {
    const char *what, *unit; /* command name, what is counted */
    int total, tty, pending, shown;
    double t0, last;         /* seconds */
} progress;

static double progress__now(void) { return pf_now_ms() * 1e-3; }

static void progress_start(progress *p, const char *what, int total, const char *unit) {
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->tty = pf_isatty(stderr);
    p->pending = p->shown = 0;
    p->t0 = p->last = progress__now();
}

/* `done` of the total finished; `item` (may be NULL) names the one being read now. */
static void progress_step(progress *p, int done, const char *item) {
    double now = progress__now(), el = now - p->t0, rate = el > 1e-6 ? done / el : 0;
    char tail[48];
    if (p->shown && done < p->total && now - p->last < (p->tty ? 0.1 : 2.0)) return;
    p->last = now;
    p->shown = 1;
    if (done >= p->total) snprintf(tail, sizeof tail, "took %.0f s", el);
    else if (done > 0) snprintf(tail, sizeof tail, "ETA %.0f s", (p->total - done) / rate);
    else snprintf(tail, sizeof tail, "ETA ?");
    fprintf(stderr, "%s%s: [%d/%d] %.1f %s/s, %s%s%s", p->tty ? "\r" : "", p->what, done, p->total, rate, p->unit,
            tail, item && *item ? "  " : "", item ? item : "");
    if (p->tty) {
        fputs("\033[K", stderr); /* clear what a longer line left */
        p->pending = 1;
    } else {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

static void progress_break(progress *p) {
    if (p->pending) fputc('\n', stderr);
    p->pending = 0;
}

static void progress_end(progress *p) { progress_break(p); }

#endif /* PROGRESS_H */
