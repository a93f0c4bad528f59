/* Load check for `vmsandbox serve`: GET a URL at a fixed rate from several
 * keep-alive connections for a while, then print latency percentiles.
 * Latency runs from each request's scheduled send time, so a stall that
 * delays the requests behind it counts for all of them (not only for the
 * one that stalled); failed requests are counted apart and left out of the
 * percentiles; the rate printed is the one achieved.
 *   status-load URL TOKEN RATE SECONDS */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 4

typedef struct {
        const char *url, *auth;
        double rate, seconds;
        double *lat;  /* of the requests answered 200 */
        size_t n, errors;
        double end;   /* when the last request was answered */
} worker;

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
        (void)p, (void)u;
        return s * n;
}

static void *run(void *arg)
{
        worker *w = arg;
        CURL *h = curl_easy_init();
        struct curl_slist *hdr = curl_slist_append(NULL, w->auth);
        double start = now(), interval = 1.0 / w->rate;

        curl_easy_setopt(h, CURLOPT_URL, w->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        for (size_t i = 0;; i++) {
                double due = start + (double)i * interval, t0;
                long code = 0;

                if (due - start >= w->seconds)
                        break;
                while ((t0 = now()) < due) {
                        struct timespec ts = { 0, (long)((due - t0) * 1e9) };
                        nanosleep(&ts, NULL);
                }
                if (curl_easy_perform(h) != CURLE_OK || (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), code != 200))
                        w->errors++;
                else
                        w->lat[w->n++] = (now() - due) * 1000.0;
                w->end = now();
        }
        curl_slist_free_all(hdr);
        curl_easy_cleanup(h);
        return NULL;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        worker w[THREADS];
        pthread_t t[THREADS];
        char auth[512];
        double *all, rate, seconds, begin, end = 0;
        size_t total = 0, errors = 0, cap;

        if (argc != 5) {
                fprintf(stderr, "usage: status-load URL TOKEN RATE SECONDS\n");
                return 2;
        }
        rate = atof(argv[3]);
        seconds = atof(argv[4]);
        cap = (size_t)(rate * seconds) + THREADS * 2;
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[2]);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        begin = now();
        for (int i = 0; i < THREADS; i++) {
                w[i] = (worker){ argv[1], auth, rate / THREADS, seconds, calloc(cap, sizeof(double)), 0, 0, 0 };
                pthread_create(&t[i], NULL, run, &w[i]);
        }
        all = calloc(cap * THREADS, sizeof(double));
        for (int i = 0; i < THREADS; i++) {
                pthread_join(t[i], NULL);
                memcpy(all + total, w[i].lat, w[i].n * sizeof(double));
                total += w[i].n;
                errors += w[i].errors;
                if (w[i].end > end)
                        end = w[i].end;
        }
        qsort(all, total, sizeof(double), cmp);
        printf("asked %.0f/s for %.0f s: %zu answered 200 and %zu failed in %.1f s (%.1f/s achieved)\n", rate, seconds,
               total, errors, end - begin, (double)(total + errors) / (end - begin));
        if (total)
                printf("latency ms from the scheduled send: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", all[total / 2],
                       all[total * 9 / 10], all[total * 99 / 100], all[total - 1]);
        return errors || !total ? 1 : 0;
}
