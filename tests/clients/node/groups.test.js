'use strict'
// kafkajs consumer groups against kavka, membership and rebalancing: three
// members sharing a topic, a member leaving (LeaveGroup), a member killed
// (session timeout). Offsets and the admin API: groups_offsets.test.js.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { withBroker } = require('./broker')
const { makeRecords, checkConsumed } = require('./data')
const {
  GROUP_OVERRIDES,
  unique,
  groupKafka,
  waitFor,
  withAdmin,
  createTopic,
  produce,
  endOffsets,
  waitCommitted,
  Member,
  ChildMember,
  ownershipProblem,
  waitStable,
  mergedReceived,
  assertExactlyOnce,
} = require('./groups_helpers')

const N_PARTITIONS = 6
const total = members => members.reduce((s, m) => s + m.count, 0)
const sum = offsets => Object.values(offsets).reduce((s, o) => s + o, 0)

function note(t, msg) {
  t.diagnostic(msg)
  console.log(`# ${msg}`)
}

test('3 members share a 6-partition topic: one owner per partition, every record once, offsets committed', { timeout: 90000 }, t =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-share')
    const groupId = unique('grp-share')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, N_PARTITIONS)
      const members = [0, 1, 2].map(i => new Member(k, { groupId, topic, name: `c${i}` }))
      try {
        await Promise.all(members.map(m => m.start()))
        const { elapsed, group } = await waitStable(admin, groupId, members, topic, N_PARTITIONS)
        note(t, `group stable ${elapsed} ms after the 3 run() calls returned; assignments ${members.map(m => `${m.name}=${JSON.stringify(m.partitions)}`).join(' ')}`)
        assert.equal(group.protocolType, 'consumer')
        assert.equal(group.protocol, 'RoundRobinAssigner')
        for (const m of members) assert.equal(m.partitions.length, 2, `${m.name} owns ${JSON.stringify(m.partitions)}`)
        assert.equal(members.filter(m => m.lastJoin.isLeader).length, 1, 'exactly one leader')
        const joinsBefore = members.map(m => m.joins.length)

        const recs = makeRecords('kafkajs-group-share', 3000)
        await produce(k, topic, recs)
        const end = await endOffsets(admin, topic)
        assert.equal(sum(end), recs.length)

        await waitFor(`all ${recs.length} records consumed`, () => total(members) >= recs.length, 30000, {
          describe: () => members.map(m => m.describe()).join('; '),
        })
        await waitCommitted(admin, groupId, topic, end)
        assert.equal(total(members), recs.length, 'records consumed in total (duplicates?)')

        // every partition's records went to its owner only
        for (const m of members) {
          for (const p of Object.keys(m.received)) {
            assert.ok(m.partitions.includes(Number(p)), `${m.name} got records of partition ${p}, owns ${m.partitions}`)
          }
        }
        checkConsumed(recs, mergedReceived(members), N_PARTITIONS)
        assert.deepEqual(members.map(m => m.joins.length), joinsBefore, 'a rebalance happened while consuming')
        for (const m of members) assert.deepEqual(m.crashes, [], `${m.name} crashed`)
      } finally {
        await Promise.all(members.map(m => m.stop().catch(() => {})))
      }
    })
  })
)

test('a member that disconnects (LeaveGroup) hands its partitions over quickly', { timeout: 90000 }, t =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-leave')
    const groupId = unique('grp-leave')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, N_PARTITIONS)
      const members = [0, 1, 2].map(i => new Member(k, { groupId, topic, name: `c${i}` }))
      try {
        await Promise.all(members.map(m => m.start()))
        await waitStable(admin, groupId, members, topic, N_PARTITIONS)

        const recs1 = makeRecords('kafkajs-group-leave-1', 600)
        await produce(k, topic, recs1)
        const end1 = await endOffsets(admin, topic)
        await waitFor('first records consumed', () => total(members) >= recs1.length, 30000)
        await waitCommitted(admin, groupId, topic, end1)

        const [leaver, ...rest] = members
        const joinCounts = rest.map(m => m.joins.length)
        const t0 = Date.now()
        await leaver.stop()
        const disconnectMs = Date.now() - t0
        await waitFor(
          'the remaining members to rejoin and own all partitions',
          () => rest.every((m, i) => m.joins.length > joinCounts[i]) && !ownershipProblem(rest, topic, N_PARTITIONS),
          15000,
          { intervalMs: 10, describe: () => members.map(m => m.describe()).join('; ') }
        )
        const rebalanceMs = Math.max(...rest.map(m => m.lastJoin.at)) - t0
        const { elapsed } = await waitStable(admin, groupId, rest, topic, N_PARTITIONS)
        note(
          t,
          `LeaveGroup rebalance: disconnect() took ${disconnectMs} ms; the 2 remaining members owned all ` +
            `${N_PARTITIONS} partitions ${rebalanceMs} ms after disconnect() began (DescribeGroups Stable ${elapsed} ms later)`
        )
        assert.ok(rebalanceMs < 10000, `rebalance after LeaveGroup took ${rebalanceMs} ms`)
        for (const m of rest) assert.equal(m.partitions.length, 3, `${m.name} owns ${JSON.stringify(m.partitions)}`)

        // the survivors continue from the leaver's committed offsets
        const recs2 = makeRecords('kafkajs-group-leave-2', 600)
        await produce(k, topic, recs2)
        const end2 = await endOffsets(admin, topic)
        await waitFor('second records consumed', () => total(members) >= recs1.length + recs2.length, 30000, {
          describe: () => members.map(m => m.describe()).join('; '),
        })
        await waitCommitted(admin, groupId, topic, end2)
        const seen = assertExactlyOnce(members, {}, end2)
        assert.equal(seen.size, recs1.length) // both batches use indexes 0..599
        for (const m of rest) assert.deepEqual(m.crashes, [], `${m.name} crashed`)
      } finally {
        await Promise.all(members.map(m => m.stop().catch(() => {})))
      }
    })
  })
)

test('a member killed without LeaveGroup loses its partitions after the session timeout', { timeout: 90000 }, t =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-kill')
    const groupId = unique('grp-kill')
    const SESSION_TIMEOUT = 6000
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, N_PARTITIONS)
      const members = [0, 1].map(
        i => new Member(k, { groupId, topic, name: `c${i}`, sessionTimeout: SESSION_TIMEOUT })
      )
      let child = null
      try {
        await Promise.all(members.map(m => m.start()))
        child = new ChildMember({
          bootstrap: broker.bootstrap,
          groupId,
          topic,
          name: 'child',
          sessionTimeout: SESSION_TIMEOUT,
        })
        const all = [...members, child]
        await waitStable(admin, groupId, all, topic, N_PARTITIONS, 30000)
        assert.equal(child.partitions.length, 2, `child owns ${JSON.stringify(child.partitions)}`)

        const joinCounts = members.map(m => m.joins.length)
        const t0 = Date.now()
        const exit = await child.kill()
        assert.equal(exit.signal, 'SIGKILL')
        await waitFor(
          'the surviving members to own all partitions',
          () => members.every((m, i) => m.joins.length > joinCounts[i]) && !ownershipProblem(members, topic, N_PARTITIONS),
          20000,
          { intervalMs: 10, describe: () => all.map(m => m.describe()).join('; ') }
        )
        const movedMs = Math.max(...members.map(m => m.lastJoin.at)) - t0
        note(t, `SIGKILLed member (session.timeout.ms=${SESSION_TIMEOUT}): partitions re-owned ${movedMs} ms after the kill`)
        // Kafka keeps a silent member until its session expires
        assert.ok(movedMs >= SESSION_TIMEOUT / 2, `partitions moved only ${movedMs} ms after the kill`)
        await waitStable(admin, groupId, members, topic, N_PARTITIONS)

        // the survivors consume every partition, the dead member's from the start
        const recs = makeRecords('kafkajs-group-kill', 600)
        await produce(k, topic, recs)
        const end = await endOffsets(admin, topic)
        await waitFor('records consumed by the survivors', () => total(members) >= recs.length, 30000, {
          describe: () => members.map(m => m.describe()).join('; '),
        })
        await waitCommitted(admin, groupId, topic, end)
        assertExactlyOnce(members, {}, end)
        for (const m of members) assert.deepEqual(m.crashes, [], `${m.name} crashed`)
      } finally {
        if (child) await child.kill()
        await Promise.all(members.map(m => m.stop().catch(() => {})))
      }
    })
  })
)
