#include "metrics.h"

static const double buckets[VS_METRICS_BUCKETS] = { 1, 5, 15, 30, 60, 120, 300, 600, 1800 };

void vs_metrics_observe(vs_metrics *m, const int64_t ms[VS_PHASE_LAST])
{
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++) {
                double secs = (double)ms[p] / 1000.0;
                size_t b = 0;

                if (ms[p] < 0)
                        continue;
                while (b < VS_METRICS_BUCKETS && secs > buckets[b])
                        b++;
                m->hist[p][b]++;
                m->sum[p] += secs;
        }
}

static void write_histogram(const vs_metrics *m, vs_phase p, FILE *f)
{
        const char *name = vs_phase_name(p);
        uint64_t cum = 0;

        for (size_t b = 0; b <= VS_METRICS_BUCKETS; b++) {
                cum += m->hist[p][b];
                if (b < VS_METRICS_BUCKETS)
                        fprintf(f, "vmsandbox_phase_seconds_bucket{phase=\"%s\",le=\"%g\"} %llu\n", name, buckets[b],
                                (unsigned long long)cum);
                else
                        fprintf(f, "vmsandbox_phase_seconds_bucket{phase=\"%s\",le=\"+Inf\"} %llu\n", name,
                                (unsigned long long)cum);
        }
        fprintf(f, "vmsandbox_phase_seconds_sum{phase=\"%s\"} %g\n", name, m->sum[p]);
        fprintf(f, "vmsandbox_phase_seconds_count{phase=\"%s\"} %llu\n", name, (unsigned long long)cum);
}

void vs_metrics_write(const vs_metrics *m, const vs_metrics_gauges *g, FILE *f)
{
        fputs("# HELP vmsandbox_jobs Jobs in the store by state.\n# TYPE vmsandbox_jobs gauge\n", f);
        for (vs_job_state st = 0; st < VS_JOB_STATE_LAST; st++)
                fprintf(f, "vmsandbox_jobs{state=\"%s\"} %u\n", vs_job_state_to_string(st), g->jobs[st]);
        fprintf(f, "# HELP vmsandbox_queue_length Jobs waiting for a VM.\n# TYPE vmsandbox_queue_length gauge\n"
                   "vmsandbox_queue_length %zu\n", g->queue_length);
        fprintf(f, "# HELP vmsandbox_running_vms Job VMs running now.\n# TYPE vmsandbox_running_vms gauge\n"
                   "vmsandbox_running_vms %u\n", g->running);
        fprintf(f, "# HELP vmsandbox_memory_reserved_bytes Guest memory reserved by running jobs.\n"
                   "# TYPE vmsandbox_memory_reserved_bytes gauge\nvmsandbox_memory_reserved_bytes %llu\n",
                (unsigned long long)g->memory_reserved);
        fputs("# HELP vmsandbox_phase_seconds Duration of job phases.\n# TYPE vmsandbox_phase_seconds histogram\n", f);
        for (vs_phase p = 0; p < VS_PHASE_LAST; p++)
                write_histogram(m, p, f);
}
