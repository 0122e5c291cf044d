'use strict'
// kafkajs against a three-node kavka cluster (every node broker and controller, one Raft
// metadata quorum, formatted with one cluster id by `kavka storage format`), with kafkajs's
// defaults: the admin creates a topic through any node, the producer finds each partition's
// leader on its own, and a consumer group reads everything back with the coordinator on
// whichever broker leads its __consumer_offsets partition. The same with Kafka's production
// layout: three controller-only nodes and two broker-only nodes, kafkajs given the brokers.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Broker } = require('./broker')
const { kafka, producer } = require('./kjs')

async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise(resolve => {
      const s = net.createServer()
      s.listen(0, '127.0.0.1', () => resolve(s))
    }))
  )
  const ports = servers.map(s => s.address().port)
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  return ports
}

// Runs `fn(brokers)` on a cluster of `brokers` combined nodes, or with `controllers` set, of
// that many controller-only nodes (ids 1..) and `brokers` broker-only nodes (the ids after).
async function withCluster(fn, { controllers = 0, brokers = 3 } = {}) {
  const voterCount = controllers || brokers
  const ports = await freePorts(voterCount)
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',')
  const ids = Array.from({ length: controllers + brokers }, (_, i) => i + 1)
  const nodes = ids.map(id => new Broker({
    'node.id': String(id),
    'controller.quorum.voters': voters,
    'controller.quorum.election.timeout.ms': '500',
    'group.initial.rebalance.delay.ms': '0',
    ...(controllers === 0
      ? {}
      : id <= controllers
        ? {
            'process.roles': 'controller',
            'controller.listener.names': 'CONTROLLER',
            listeners: `CONTROLLER://127.0.0.1:${ports[id - 1]}`,
          }
        : { 'process.roles': 'broker' }),
  }))
  const clusterId = execFileSync(nodes[0].bin, ['storage', 'random-uuid']).toString().trim()
  for (const b of nodes) {
    const props = path.join(b.workdir, 'server.properties')
    const text = Object.entries({ ...b.overrides, 'log.dirs': b.dataDir }).map(([k, v]) => `${k}=${v}\n`).join('')
    fs.writeFileSync(props, text)
    execFileSync(b.bin, ['storage', 'format', '-t', clusterId, '-c', props])
  }
  try {
    for (const b of nodes) await b.start()
    await fn(nodes.slice(controllers))
  } catch (e) {
    e.message += nodes.map((b, i) => `\n----- node ${i + 1} log -----\n${b.logTail(16 * 1024)}`).join('')
    throw e
  } finally {
    // Brokers before controllers, so their controlled shutdown finds a controller.
    for (const b of [...nodes].reverse()) await b.stop().catch(() => b.kill())
  }
}

async function retry(fn, ms = 30000) {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
}

// Reads `count` records of `topic` in consumer group `groupId` from the beginning; their
// values, in arrival order.
async function consumeValues(k, groupId, topic, count) {
  const consumer = k.consumer({ groupId })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${got.length} of ${count}`)), 60000)
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value.toString())
        if (got.length === count) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  return got
}

// The brokers list each other only, the admin places a topic on all of them, a producer
// writes to every partition's leader and a consumer group reads everything back.
async function spreadProduceConsume(nodes, topic) {
  const ids = nodes.map(b => Number(b.overrides['node.id']))
  // Every broker lists all the brokers: all are registered, so placement can use them.
  for (const b of nodes) {
    await retry(async () => {
      const one = kafka(b.bootstrap).admin()
      await one.connect()
      try {
        assert.deepEqual((await one.describeCluster()).brokers.map(b => b.nodeId).sort(), ids)
      } finally {
        await one.disconnect()
      }
    })
  }
  const k = kafka(nodes[nodes.length - 1].bootstrap, { brokers: nodes.map(b => b.bootstrap) })
  const admin = k.admin()
  await admin.connect()
  // The quorum may still be electing its first leader: NOT_CONTROLLER is retried.
  await retry(() =>
    admin.createTopics({ topics: [{ topic: topic, numPartitions: 6 }], waitForLeaders: true })
  )
  const meta = await retry(async () => {
    const m = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.equal(m.topics[0].partitions.length, 6)
    return m
  })
  const leaders = new Set(meta.topics[0].partitions.map(p => p.leader))
  assert.deepEqual([...leaders].sort(), ids, 'six partitions over the brokers')
  await admin.disconnect()

  const p = producer(k)
  await p.connect()
  const sent = Array.from({ length: 120 }, (_, i) => `v${i}`)
  await p.send({ topic: topic, messages: sent.map((value, i) => ({ key: `k${i}`, value })) })
  await p.disconnect()

  const got = await consumeValues(k, 'js-g', topic, sent.length)
  assert.deepEqual([...got].sort(), [...sent].sort())
}

test('kafkajs produces and consumes across a three-node cluster', { timeout: 120000 }, () =>
  withCluster(nodes => spreadProduceConsume(nodes, 'js-spread'))
)

test('kafkajs with three controller-only and two broker-only nodes', { timeout: 120000 }, () =>
  withCluster(nodes => spreadProduceConsume(nodes, 'js-roles'), { controllers: 3, brokers: 2 })
)

test('kafkajs keeps producing while a broker restarts', { timeout: 120000 }, () =>
  withCluster(async nodes => {
    // Partitions have one replica until replication: the restarting broker's partition has no
    // leader from its controlled shutdown until it is back and unfenced (its restart plus up to
    // one broker.heartbeat.interval.ms), longer than the retries of these tests' client (3, from 100 ms) wait.
    const patient = { retries: 10, maxRetryTime: 5000 }
    const k = kafka(nodes[0].bootstrap, { brokers: nodes.map(b => b.bootstrap), retry: patient })
    const admin = k.admin()
    await admin.connect()
    // Every broker registered first, so the partitions spread over all three.
    await retry(async () => assert.equal((await admin.describeCluster()).brokers.length, 3))
    await retry(() =>
      admin.createTopics({ topics: [{ topic: 'js-restart', numPartitions: 3 }], waitForLeaders: true })
    )
    const meta = await admin.fetchTopicMetadata({ topics: ['js-restart'] })
    const leaders = meta.topics[0].partitions.map(p => p.leader)
    const controller = (await admin.describeCluster()).controller
    await admin.disconnect()
    const victim = nodes.find(b => leaders.includes(Number(b.overrides['node.id'])) &&
      Number(b.overrides['node.id']) !== controller) || nodes[leaders[0] - 1]

    const p = producer(k, { retry: patient })
    await p.connect()
    const batch = (from, n) => Array.from({ length: n }, (_, i) => ({ value: `r${from + i}`, partition: (from + i) % 3 }))
    await p.send({ topic: 'js-restart', messages: batch(0, 60) })
    await victim.stop()
    // Sent while the broker is down: kafkajs retries until it is back.
    const during = p.send({ topic: 'js-restart', messages: batch(60, 60) })
    await victim.start()
    await during
    await p.send({ topic: 'js-restart', messages: batch(120, 60) })
    await p.disconnect()

    const sent = Array.from({ length: 180 }, (_, i) => `r${i}`)
    const got = await consumeValues(k, 'js-restart-g', 'js-restart', sent.length)
    assert.deepEqual([...got].sort(), [...sent].sort(), 'every record sent, once')
  })
)
