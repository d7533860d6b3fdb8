/* core/progress.c: the step logic of progress reports (progress.h). */
#include "core/progress.h"

void vcr_progress_report(struct vcr_progress *p, uint64_t done)
{
	if (__atomic_exchange_n(&p->busy, 1, __ATOMIC_ACQUIRE))
		return;
	uint64_t step = p->step ? p->step : 4096;
	__atomic_store_n(&p->next, done + step, __ATOMIC_RELAXED);
	if (p->fn)
		p->fn(p->ctx, done, p->total);
	__atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
}
