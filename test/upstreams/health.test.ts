import { describe, expect, it } from 'vitest'
import { UpstreamHealth } from '../../src/upstreams/health.js'

function health (failuresToCooldown = 3, cooldownMs = 1000) {
  const changes: boolean[] = []
  const h = new UpstreamHealth({ failuresToCooldown, cooldownMs, onChange: (up) => changes.push(up) })
  return { h, changes }
}

describe('upstream health', () => {
  it('takes traffic until N failures in a row, then cools down for the cooldown', () => {
    const { h, changes } = health(3, 1000)
    h.fail(0, h.begin(0))
    h.fail(0, h.begin(0))
    expect(h.available(0)).toBe(true)
    h.fail(10, h.begin(10))
    expect(h.up).toBe(false)
    expect(h.available(500)).toBe(false)
    expect(h.available(1009)).toBe(false)
    expect(h.waitMs(500)).toBe(510)
    expect(h.available(1010)).toBe(true)
    expect(changes).toEqual([false])
  })

  it('a success resets the count of failures in a row', () => {
    const { h } = health(3)
    h.fail(0, false)
    h.fail(0, false)
    h.succeed()
    h.fail(0, false)
    h.fail(0, false)
    expect(h.up).toBe(true)
    h.fail(0, false)
    expect(h.up).toBe(false)
  })

  it('lets exactly one probe through when the cooldown is over', () => {
    const { h } = health(1, 1000)
    h.fail(0, h.begin(0))
    expect(h.probeDue(1000)).toBe(true)
    expect(h.begin(1000)).toBe(true)
    // While the probe is out, nothing else goes there.
    expect(h.available(1001)).toBe(false)
    expect(h.probeDue(1001)).toBe(false)
    expect(h.waitMs(1001)).toBe(Infinity)
  })

  it('a successful probe brings it back up', () => {
    const { h, changes } = health(1, 1000)
    h.fail(0, h.begin(0))
    h.begin(1000)
    h.succeed()
    expect(h.up).toBe(true)
    expect(h.available(1000)).toBe(true)
    expect(changes).toEqual([false, true])
  })

  it('a failed probe starts a new full cooldown at once', () => {
    const { h, changes } = health(5, 1000)
    for (let i = 0; i < 5; i++) h.fail(0, h.begin(0))
    const probe = h.begin(1000)
    h.fail(1200, probe)
    expect(h.available(2199)).toBe(false)
    expect(h.probeDue(2200)).toBe(true)
    expect(changes).toEqual([false])
  })

  it('a probe that ends without a verdict (client left) frees the slot for the next one', () => {
    const { h } = health(1, 1000)
    h.fail(0, h.begin(0))
    const probe = h.begin(1000)
    h.release(probe)
    expect(h.probeDue(1001)).toBe(true)
    expect(h.begin(1001)).toBe(true)
  })

  it('failures of attempts that were already out during the cooldown do not extend it', () => {
    const { h } = health(2, 1000)
    h.begin(0)
    h.begin(0)
    h.begin(0)
    h.fail(0, false)
    h.fail(0, false)
    h.fail(900, false)
    expect(h.available(1000)).toBe(true)
  })
})
