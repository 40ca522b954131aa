import { describe, it } from 'vitest'
import { aggregates } from '../../src/core/aggregates.ts'
import { job } from '../support/facts.ts'
import { given } from '../support/given.ts'

describe('jobMachine (smoke)', () => {
  it('backs off a retryable failure', () => {
    given(aggregates.job, job.queued(), job.started(1))
      .when(job.failed(1, { retryable: true }))
      .then({ state: 'delayed', armed: ['untilDue'], context: { delayMs: 2000, attempts: 1 } })
  })
  it('refuses a send outcome while waiting', () => {
    given(aggregates.job, job.queued()).when(job.sent(1)).refused()
  })
})
