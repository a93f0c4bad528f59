/* The service's Prometheus metrics: job gauges and phase histograms. */
#ifndef VS_METRICS_H
#define VS_METRICS_H

#include "record.h"

#include <stdint.h>
#include <stdio.h>

#define VS_METRICS_BUCKETS 9

typedef struct {
        uint64_t hist[VS_PHASE_LAST][VS_METRICS_BUCKETS + 1];
        double sum[VS_PHASE_LAST];
} vs_metrics;

typedef struct {
        unsigned jobs[VS_JOB_STATE_LAST];
        size_t queue_length;
        unsigned running;
        uint64_t memory_reserved;
} vs_metrics_gauges;

/* Each phase that ended (ms >= 0) counts in its histogram. */
void vs_metrics_observe(vs_metrics *m, const int64_t ms[VS_PHASE_LAST]);
/* Prometheus text exposition. */
void vs_metrics_write(const vs_metrics *m, const vs_metrics_gauges *g, FILE *f);

#endif
