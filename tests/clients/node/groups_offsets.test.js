'use strict'
// kafkajs consumer groups against kavka, committed offsets and the admin
// API: auto and manual commits, resuming from committed offsets, offsets
// across broker restarts, listGroups / describeGroups / fetchOffsets /
// setOffsets / resetOffsets / deleteGroups.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { isDeepStrictEqual } = require('node:util')
const { AssignerProtocol } = require('kafkajs')
const { withBroker } = require('./broker')
const { cluster } = require('./kjs')
const { makeRecords } = require('./data')
const {
  GROUP_OVERRIDES,
  unique,
  groupKafka,
  waitFor,
  withAdmin,
  createTopic,
  produce,
  endOffsets,
  committed,
  offsetsOnly,
  waitCommitted,
  Member,
  describeGroup,
  describedAssignments,
  waitStable,
  assertExactlyOnce,
} = require('./groups_helpers')

const N_PARTITIONS = 3
const sum = offsets => Object.values(offsets).reduce((s, o) => s + o, 0)
const allPartitions = n => [...Array(n).keys()]

function note(t, msg) {
  t.diagnostic(msg)
  console.log(`# ${msg}`)
}

async function waitEmpty(admin, groupId, timeoutMs = 15000) {
  let last = null
  await waitFor(
    `group ${groupId} Empty`,
    async () => {
      last = await describeGroup(admin, groupId)
      return last.state === 'Empty' && last.members.length === 0
    },
    timeoutMs,
    { intervalMs: 100, describe: () => JSON.stringify(last && { state: last.state, members: last.members.length }) }
  )
}

// One member (autoCommit off) consumes everything, commits `commits`
// ({partition: {offset, metadata}}) and leaves.
async function commitWithMember(k, admin, { groupId, topic, nPartitions, nRecords, commits }) {
  const m = new Member(k, { groupId, topic, name: 'committer' })
  try {
    await m.start({ autoCommit: false })
    await waitStable(admin, groupId, [m], topic, nPartitions)
    await waitFor(`committer consumed ${nRecords}`, () => m.count >= nRecords, 30000, { describe: () => m.describe() })
    await m.consumer.commitOffsets(
      Object.entries(commits).map(([p, c]) => ({
        topic,
        partition: Number(p),
        offset: String(c.offset),
        metadata: c.metadata === undefined ? null : c.metadata,
      }))
    )
  } finally {
    await m.stop()
  }
}

test('auto commit (autoCommitInterval) commits the consumed positions', { timeout: 60000 }, t =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-auto')
    const groupId = unique('grp-auto')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, N_PARTITIONS)
      const m = new Member(k, { groupId, topic, name: 'auto' })
      try {
        await m.start({ autoCommitInterval: 200 })
        await waitStable(admin, groupId, [m], topic, N_PARTITIONS)
        const recs = makeRecords('kafkajs-group-auto', 900)
        await produce(k, topic, recs)
        const end = await endOffsets(admin, topic)
        await waitFor('records consumed', () => m.count >= recs.length, 30000, { describe: () => m.describe() })
        const ms = await waitCommitted(admin, groupId, topic, end)
        note(t, `auto-committed offsets visible ${ms} ms after the last record was consumed; ${m.commits.length} OffsetCommits`)
        assert.ok(m.commits.length > 0, 'no COMMIT_OFFSETS event')
        assertExactlyOnce([m], {}, end)

        // fetchOffsets without topics: all topics of the group (OffsetFetch with null topics)
        const all = await admin.fetchOffsets({ groupId })
        const entry = all.find(x => x.topic === topic)
        assert.ok(entry, `fetchOffsets(all topics) lacks ${topic}: ${JSON.stringify(all)}`)
        assert.deepEqual(
          Object.fromEntries(entry.partitions.map(p => [p.partition, Number(p.offset)])),
          end,
          'fetchOffsets(all topics)'
        )
        for (const p of entry.partitions) assert.equal(p.metadata, null, `partition ${p.partition} metadata`)
        assert.deepEqual(m.crashes, [])
      } finally {
        await m.stop()
      }
      // the offsets outlive the member
      await waitEmpty(admin, groupId)
      assert.deepEqual(offsetsOnly(await committed(admin, groupId, topic)), await endOffsets(admin, topic))
    })
  })
)

test('manual commit (autoCommit: false, commitOffsets with metadata) is read back by fetchOffsets', { timeout: 60000 }, () =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-manual')
    const groupId = unique('grp-manual')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, N_PARTITIONS)
      const m = new Member(k, { groupId, topic, name: 'manual' })
      let end
      let want
      try {
        await m.start({ autoCommit: false })
        await waitStable(admin, groupId, [m], topic, N_PARTITIONS)
        const recs = makeRecords('kafkajs-group-manual', 900)
        await produce(k, topic, recs)
        end = await endOffsets(admin, topic)
        await waitFor('records consumed', () => m.count >= recs.length, 30000, { describe: () => m.describe() })
        assertExactlyOnce([m], {}, end)

        // nothing committed by itself
        const before = await committed(admin, groupId, topic)
        for (const p of allPartitions(N_PARTITIONS)) {
          assert.equal(before[p].offset, -1, `partition ${p} committed without a commit: ${JSON.stringify(before)}`)
        }
        assert.equal(m.commits.length, 0, 'autoCommit: false consumer committed')

        want = {
          0: { offset: Math.floor(end[0] / 2), metadata: 'manual commit p0' },
          1: { offset: end[1], metadata: JSON.stringify({ by: 'kafkajs', n: 1 }) },
          2: { offset: end[2], metadata: null },
        }
        await m.consumer.commitOffsets(
          Object.entries(want).map(([p, c]) => ({ topic, partition: Number(p), offset: String(c.offset), metadata: c.metadata }))
        )
        assert.deepEqual(await committed(admin, groupId, topic), want)

        // a second commit overwrites
        want[2] = { offset: end[2] - 1, metadata: 'moved back' }
        await m.consumer.commitOffsets([{ topic, partition: 2, offset: String(want[2].offset), metadata: want[2].metadata }])
        assert.deepEqual(await committed(admin, groupId, topic), want)
      } finally {
        await m.stop()
      }
      await waitEmpty(admin, groupId)
      assert.deepEqual(await committed(admin, groupId, topic), want)
    })
  })
)

test('a new member resumes from the committed offsets', { timeout: 60000 }, () =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-resume')
    const groupId = unique('grp-resume')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, N_PARTITIONS)
      const recs = makeRecords('kafkajs-group-resume-1', 900)
      await produce(k, topic, recs)
      const end = await endOffsets(admin, topic)
      // p0 and p1 committed, p2 never
      const from = { 0: 100, 1: end[1] - 50 }
      await commitWithMember(k, admin, {
        groupId,
        topic,
        nPartitions: N_PARTITIONS,
        nRecords: recs.length,
        commits: { 0: { offset: from[0] }, 1: { offset: from[1] } },
      })
      await waitEmpty(admin, groupId)
      const c = offsetsOnly(await committed(admin, groupId, topic))
      assert.deepEqual(c, { 0: from[0], 1: from[1], 2: -1 })

      // fromBeginning: false, so a partition without a committed offset starts at its end
      const m = new Member(k, { groupId, topic, name: 'resumer', fromBeginning: false })
      try {
        await m.start()
        await waitStable(admin, groupId, [m], topic, N_PARTITIONS)
        const expectFirst = end[0] - from[0] + (end[1] - from[1])
        await waitFor(`the ${expectFirst} records after the committed offsets`, () => m.count >= expectFirst, 30000, {
          describe: () => m.describe(),
        })
        assertExactlyOnce([m], { ...from, 2: end[2] }, { 0: end[0], 1: end[1], 2: end[2] })

        const recs2 = makeRecords('kafkajs-group-resume-2', 300)
        await produce(k, topic, recs2)
        const end2 = await endOffsets(admin, topic)
        await waitFor('the new records', () => m.count >= expectFirst + recs2.length, 30000, { describe: () => m.describe() })
        await waitCommitted(admin, groupId, topic, end2)
        assertExactlyOnce([m], { ...from, 2: end[2] }, end2)
        assert.deepEqual(m.crashes, [])
      } finally {
        await m.stop()
      }
    })
  })
)

for (const how of ['stop', 'kill']) {
  test(`committed offsets survive a broker restart (${how === 'stop' ? 'SIGTERM' : 'SIGKILL'})`, { timeout: 90000 }, () =>
    withBroker(GROUP_OVERRIDES, async broker => {
      const topic = unique(`g-restart-${how}`)
      const groupId = unique(`grp-restart-${how}`)
      const recs = makeRecords(`kafkajs-group-restart-${how}`, 600)
      let end
      const want = {}
      {
        const k = groupKafka(broker.bootstrap)
        await withAdmin(k, async admin => {
          await createTopic(admin, topic, N_PARTITIONS)
          await produce(k, topic, recs)
          end = await endOffsets(admin, topic)
          for (const p of allPartitions(N_PARTITIONS)) {
            want[p] = { offset: end[p] - 10 * (p + 1), metadata: `before ${how} p${p}` }
          }
          await commitWithMember(k, admin, { groupId, topic, nPartitions: N_PARTITIONS, nRecords: recs.length, commits: want })
          assert.deepEqual(await committed(admin, groupId, topic), want)
          await waitEmpty(admin, groupId)
        })
      }

      await broker[how]()
      await broker.start()

      const k = groupKafka(broker.bootstrap)
      await withAdmin(k, async admin => {
        // the coordinator may still be loading __consumer_offsets
        let last = null
        await waitFor(
          'committed offsets after the restart',
          async () => {
            last = await committed(admin, groupId, topic)
            return isDeepStrictEqual(last, Object.fromEntries(Object.entries(want).map(([p, c]) => [String(p), c])))
          },
          20000,
          { intervalMs: 200, describe: () => `${JSON.stringify(last)}, want ${JSON.stringify(want)}` }
        )
        // the group itself is back (Empty, with offsets)
        const { groups } = await admin.listGroups()
        assert.ok(groups.some(g => g.groupId === groupId), `listGroups after restart: ${JSON.stringify(groups)}`)
        const g = await describeGroup(admin, groupId)
        assert.equal(g.state, 'Empty')

        // a member resumes there
        const m = new Member(k, { groupId, topic, name: 'after-restart' })
        try {
          await m.start()
          await waitStable(admin, groupId, [m], topic, N_PARTITIONS)
          const from = Object.fromEntries(Object.entries(want).map(([p, c]) => [p, c.offset]))
          const expect = sum(end) - sum(from)
          await waitFor(`the ${expect} uncommitted records`, () => m.count >= expect, 30000, { describe: () => m.describe() })
          await waitCommitted(admin, groupId, topic, end)
          assertExactlyOnce([m], from, end)
        } finally {
          await m.stop()
        }
      })
    })
  )
}

test('admin: listGroups, describeGroups, fetchOffsets, setOffsets/resetOffsets, deleteGroups', { timeout: 120000 }, t =>
  withBroker(GROUP_OVERRIDES, async broker => {
    const k = groupKafka(broker.bootstrap)
    const NP = 4
    const topic = unique('g-admin')
    const groupId = unique('grp-admin')
    const unknownGroup = unique('grp-never')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, NP)
      const recs = makeRecords('kafkajs-group-admin', 400)
      await produce(k, topic, recs)
      const end = await endOffsets(admin, topic)
      const members = [0, 1].map(i => new Member(k, { groupId, topic, name: `a${i}` }))
      try {
        await Promise.all(members.map(m => m.start()))
        await waitStable(admin, groupId, members, topic, NP)
        await waitFor('records consumed', () => members.reduce((s, m) => s + m.count, 0) >= recs.length, 30000)
        await waitCommitted(admin, groupId, topic, end)

        // listGroups
        const listed = (await admin.listGroups()).groups
        const mine = listed.find(g => g.groupId === groupId)
        assert.ok(mine, `listGroups: ${JSON.stringify(listed)}`)
        assert.equal(mine.protocolType, 'consumer')

        // describeGroups: state, protocol, members with metadata and assignments
        const g = await describeGroup(admin, groupId)
        assert.equal(g.errorCode, 0)
        assert.equal(g.state, 'Stable')
        assert.equal(g.protocolType, 'consumer')
        assert.equal(g.protocol, 'RoundRobinAssigner')
        assert.deepEqual(g.members.map(x => x.memberId).sort(), members.map(m => m.memberId).sort())
        const desc = describedAssignments(g)
        for (const x of g.members) {
          assert.equal(x.clientId, 'kavka-tests')
          assert.match(x.clientHost, /127\.0\.0\.1/, 'clientHost')
          const md = AssignerProtocol.MemberMetadata.decode(x.memberMetadata)
          assert.deepEqual(md.topics, [topic], 'member metadata topics')
          const decoded = AssignerProtocol.MemberAssignment.decode(x.memberAssignment)
          assert.equal(decoded.version, 0)
          const m = members.find(mm => mm.memberId === x.memberId)
          assert.deepEqual(desc[x.memberId], { [topic]: m.partitions })
        }
        assert.deepEqual(
          Object.values(desc).flatMap(a => a[topic]).sort((a, b) => a - b),
          allPartitions(NP),
          'DescribeGroups assignments cover the topic'
        )

        // two groups in one request: the unknown one is Dead with no members (Kafka: error NONE)
        const both = await admin.describeGroups([groupId, unknownGroup])
        assert.equal(both.groups.length, 2)
        const dead = both.groups.find(x => x.groupId === unknownGroup)
        assert.ok(dead, JSON.stringify(both.groups.map(x => x.groupId)))
        assert.equal(dead.errorCode, 0)
        assert.equal(dead.state, 'Dead')
        assert.deepEqual(dead.members, [])

        // fetchOffsets by topic
        assert.deepEqual(offsetsOnly(await committed(admin, groupId, topic)), end)

        // refused while the group has members
        await assert.rejects(admin.resetOffsets({ groupId, topic }), /must have no running instances, current state: Stable/)
        await assert.rejects(
          admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] }),
          /must have no running instances/
        )
        await assert.rejects(admin.deleteGroups([groupId]), e => {
          assert.equal(e.name, 'KafkaJSDeleteGroupsError', e.stack)
          assert.equal(e.groups.length, 1)
          assert.equal(e.groups[0].groupId, groupId)
          assert.equal(e.groups[0].errorCode, 68, `DeleteGroups on a Stable group: ${JSON.stringify(e.groups)}`) // NON_EMPTY_GROUP
          return true
        })
      } finally {
        await Promise.all(members.map(m => m.stop().catch(() => {})))
      }

      await waitEmpty(admin, groupId)
      assert.ok((await admin.listGroups()).groups.some(x => x.groupId === groupId), 'an Empty group with offsets is listed')

      // setOffsets on the empty group, then a member starts there
      const half = Object.fromEntries(allPartitions(NP).map(p => [p, Math.floor(end[p] / 2)]))
      let t0 = Date.now()
      await admin.setOffsets({
        groupId,
        topic,
        partitions: allPartitions(NP).map(p => ({ partition: p, offset: String(half[p]) })),
      })
      note(t, `admin.setOffsets took ${Date.now() - t0} ms`)
      assert.deepEqual(offsetsOnly(await committed(admin, groupId, topic)), half)
      await waitEmpty(admin, groupId)
      const m = new Member(k, { groupId, topic, name: 'after-set', fromBeginning: false })
      try {
        await m.start()
        const expect = sum(end) - sum(half)
        await waitFor(`${expect} records from the set offsets`, () => m.count >= expect, 30000, { describe: () => m.describe() })
        await waitCommitted(admin, groupId, topic, end)
        assertExactlyOnce([m], half, end)
      } finally {
        await m.stop()
      }
      await waitEmpty(admin, groupId)

      // resetOffsets(earliest): kafkajs commits -2 (EARLIEST) as the offset, which
      // Kafka stores verbatim; fetchOffsets({resolveOffsets}) turns it into the low watermark
      t0 = Date.now()
      await admin.resetOffsets({ groupId, topic, earliest: true })
      note(t, `admin.resetOffsets took ${Date.now() - t0} ms`)
      assert.deepEqual(
        offsetsOnly(await committed(admin, groupId, topic)),
        Object.fromEntries(allPartitions(NP).map(p => [p, -2]))
      )
      await waitEmpty(admin, groupId)
      const resolved = await admin.fetchOffsets({ groupId, topics: [topic], resolveOffsets: true })
      assert.deepEqual(
        resolved[0].partitions.map(p => [p.partition, Number(p.offset)]).sort((a, b) => a[0] - b[0]),
        allPartitions(NP).map(p => [p, 0])
      )
      assert.deepEqual(offsetsOnly(await committed(admin, groupId, topic)), Object.fromEntries(allPartitions(NP).map(p => [p, 0])))
      await waitEmpty(admin, groupId)

      // deleteGroups on the empty group works; its offsets go with it
      const res = await admin.deleteGroups([groupId])
      assert.deepEqual(res.map(r => [r.groupId, r.errorCode]), [[groupId, 0]])
      assert.ok(!(await admin.listGroups()).groups.some(x => x.groupId === groupId), 'deleted group still listed')
      assert.deepEqual(
        offsetsOnly(await committed(admin, groupId, topic)),
        Object.fromEntries(allPartitions(NP).map(p => [p, -1])),
        'offsets of a deleted group'
      )
      const gone = await describeGroup(admin, groupId)
      assert.equal(gone.state, 'Dead')

      // deleting a group that does not exist: GROUP_ID_NOT_FOUND
      await assert.rejects(admin.deleteGroups([unknownGroup]), e => {
        assert.equal(e.name, 'KafkaJSDeleteGroupsError', e.stack)
        assert.equal(e.groups[0].errorCode, 69, JSON.stringify(e.groups)) // GROUP_ID_NOT_FOUND
        return true
      })
    })
  })
)

test('admin: delete committed offsets (OffsetDelete)', { skip: 'kafkajs 2.2.4 has no admin API for OffsetDelete' }, () => {})

// Coordinator answers the kafkajs consumer relies on, checked with
// kafkajs's own request implementations (JoinGroup v5, SyncGroup v3,
// Heartbeat v3, OffsetCommit v5, LeaveGroup v3) on one broker.
test('coordinator error codes', { timeout: 90000 }, t =>
  withBroker({ ...GROUP_OVERRIDES, 'group.max.session.timeout.ms': '60000' }, async broker => {
    const k = groupKafka(broker.bootstrap)
    const topic = unique('g-errors')
    await withAdmin(k, async admin => {
      await createTopic(admin, topic, 2)

      await t.test('a consumer whose sessionTimeout is outside [group.min, group.max].session.timeout.ms gets INVALID_SESSION_TIMEOUT', async () => {
        for (const sessionTimeout of [1000, 120000]) {
          const m = new Member(k, { groupId: unique('grp-session'), topic, name: `session-${sessionTimeout}`, sessionTimeout })
          try {
            await m.start()
            await waitFor('the consumer to crash', () => m.fatal, 15000, { describe: () => m.describe() })
            assert.deepEqual(m.crashTypes, ['INVALID_SESSION_TIMEOUT'], `sessionTimeout ${sessionTimeout}: ${m.crashes}`)
          } finally {
            await m.stop()
          }
        }
      })

      const c = await cluster(broker.bootstrap)
      try {
        const groupId = unique('grp-raw')
        const co = await c.findGroupCoordinator({ groupId })
        const groupProtocols = [
          { name: 'RoundRobinAssigner', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics: [topic] }) },
        ]
        const rejectsWith = async (promise, type, what) => {
          let res
          try {
            res = await promise
          } catch (e) {
            assert.equal(e.type, type, `${what}: got ${e.type || e.name}: ${e.message}`)
            return
          }
          assert.fail(`${what}: want ${type}, the broker answered ${JSON.stringify(res)}`)
        }
        const commit = (memberId, generation, partitions, tp = topic) =>
          co.offsetCommit({ groupId, memberId, groupGenerationId: generation, topics: [{ topic: tp, partitions }] })

        const j = await co.joinGroup({ groupId, sessionTimeout: 6000, rebalanceTimeout: 5000, groupProtocols })
        assert.equal(j.leaderId, j.memberId)
        assert.equal(j.groupProtocol, 'RoundRobinAssigner')
        const gen = j.generationId

        await t.test('generation and membership checks', async () => {
          await rejectsWith(commit(j.memberId, gen, [{ partition: 0, offset: '1' }]), 'REBALANCE_IN_PROGRESS', 'OffsetCommit before SyncGroup')
          await rejectsWith(
            co.syncGroup({ groupId, generationId: gen + 1, memberId: j.memberId, groupAssignment: [] }),
            'ILLEGAL_GENERATION',
            'SyncGroup, wrong generation'
          )
          await rejectsWith(
            co.syncGroup({ groupId, generationId: gen, memberId: 'nobody', groupAssignment: [] }),
            'UNKNOWN_MEMBER_ID',
            'SyncGroup, unknown member'
          )
          const assignment = AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { [topic]: [0, 1] } })
          const s = await co.syncGroup({
            groupId,
            generationId: gen,
            memberId: j.memberId,
            groupAssignment: [{ memberId: j.memberId, memberAssignment: assignment }],
          })
          assert.deepEqual(AssignerProtocol.MemberAssignment.decode(s.memberAssignment).assignment, { [topic]: [0, 1] })
          await co.heartbeat({ groupId, groupGenerationId: gen, memberId: j.memberId })
          await rejectsWith(co.heartbeat({ groupId, groupGenerationId: gen - 1, memberId: j.memberId }), 'ILLEGAL_GENERATION', 'Heartbeat, old generation')
          await rejectsWith(co.heartbeat({ groupId, groupGenerationId: gen, memberId: 'nobody' }), 'UNKNOWN_MEMBER_ID', 'Heartbeat, unknown member')
          await commit(j.memberId, gen, [{ partition: 0, offset: '1', metadata: 'ok' }])
          await rejectsWith(commit(j.memberId, gen + 1, [{ partition: 0, offset: '2' }]), 'ILLEGAL_GENERATION', 'OffsetCommit, wrong generation')
          await rejectsWith(commit('nobody', gen, [{ partition: 0, offset: '2' }]), 'UNKNOWN_MEMBER_ID', 'OffsetCommit, unknown member')
          // a "simple" commit (generation -1, no member) is only for groups without members
          await rejectsWith(commit('', -1, [{ partition: 0, offset: '2' }]), 'UNKNOWN_MEMBER_ID', 'OffsetCommit, generation -1 on a Stable group')
          assert.deepEqual(offsetsOnly(await committed(admin, groupId, topic)), { 0: 1, 1: -1 })
        })

        await t.test('OffsetCommit: metadata over offset.metadata.max.bytes -> OFFSET_METADATA_TOO_LARGE', async () => {
          await rejectsWith(
            commit(j.memberId, gen, [{ partition: 1, offset: '1', metadata: 'x'.repeat(5000) }]),
            'OFFSET_METADATA_TOO_LARGE',
            'OffsetCommit with 5000 bytes of metadata'
          )
        })

        await t.test('OffsetCommit to a missing topic or partition -> UNKNOWN_TOPIC_OR_PARTITION', async () => {
          // both checked, then reported together
          const results = await Promise.allSettled([
            rejectsWith(
              commit(j.memberId, gen, [{ partition: 0, offset: '1' }], unique('no-such-topic')),
              'UNKNOWN_TOPIC_OR_PARTITION',
              'OffsetCommit to a topic that does not exist'
            ),
            rejectsWith(
              commit(j.memberId, gen, [{ partition: 7, offset: '1' }]),
              'UNKNOWN_TOPIC_OR_PARTITION',
              'OffsetCommit to partition 7 of a 2-partition topic'
            ),
          ])
          const failures = results.filter(r => r.status === 'rejected').map(r => r.reason.message)
          assert.deepEqual(failures, [])
        })

        await t.test('LeaveGroup, then simple commits to the Empty group', async () => {
          await rejectsWith(co.leaveGroup({ groupId, memberId: 'nobody' }), 'UNKNOWN_MEMBER_ID', 'LeaveGroup, unknown member')
          await co.leaveGroup({ groupId, memberId: j.memberId })
          const g = await describeGroup(admin, groupId)
          assert.equal(g.state, 'Empty')
          await commit('', -1, [{ partition: 1, offset: '5', metadata: 'simple' }])
          const got = await committed(admin, groupId, topic)
          assert.deepEqual(got[1], { offset: 5, metadata: 'simple' })
        })

        await t.test('an empty group id is refused with INVALID_GROUP_ID', async () => {
          await rejectsWith(
            co.joinGroup({ groupId: '', sessionTimeout: 6000, rebalanceTimeout: 5000, groupProtocols }),
            'INVALID_GROUP_ID',
            'JoinGroup with group id ""'
          )
        })
      } finally {
        await c.disconnect()
      }
    })
  })
)
