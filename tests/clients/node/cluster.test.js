'use strict'
// kafkajs against a three-node kavka cluster (every node broker and controller, one Raft
// metadata quorum, formatted with one cluster id by `kavka storage format`), with kafkajs's
// defaults: the admin creates a topic through any node, the producer finds each partition's
// leader on its own, and a consumer group reads everything back with the coordinator on
// whichever broker leads its __consumer_offsets partition.

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

async function withCluster(fn) {
  const ports = await freePorts(3)
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',')
  const nodes = [1, 2, 3].map(id => new Broker({
    'node.id': String(id),
    'controller.quorum.voters': voters,
    'controller.quorum.election.timeout.ms': '500',
    'group.initial.rebalance.delay.ms': '0',
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
    await fn(nodes)
  } catch (e) {
    e.message += nodes.map((b, i) => `\n----- node ${i + 1} log -----\n${b.logTail(16 * 1024)}`).join('')
    throw e
  } finally {
    for (const b of nodes) await b.stop().catch(() => b.kill())
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

test('kafkajs produces and consumes across a three-node cluster', { timeout: 120000 }, () =>
  withCluster(async nodes => {
    // Every node lists all three brokers: all are registered, so placement can use them.
    for (const b of nodes) {
      await retry(async () => {
        const one = kafka(b.bootstrap).admin()
        await one.connect()
        try {
          assert.equal((await one.describeCluster()).brokers.length, 3)
        } finally {
          await one.disconnect()
        }
      })
    }
    const k = kafka(nodes[1].bootstrap, { brokers: nodes.map(b => b.bootstrap) })
    const admin = k.admin()
    await admin.connect()
    // The quorum may still be electing its first leader: NOT_CONTROLLER is retried.
    await retry(() =>
      admin.createTopics({ topics: [{ topic: 'js-spread', numPartitions: 6 }], waitForLeaders: true })
    )
    const meta = await retry(async () => {
      const m = await admin.fetchTopicMetadata({ topics: ['js-spread'] })
      assert.equal(m.topics[0].partitions.length, 6)
      return m
    })
    const leaders = new Set(meta.topics[0].partitions.map(p => p.leader))
    assert.deepEqual([...leaders].sort(), [1, 2, 3], 'six partitions over three brokers')
    await admin.disconnect()

    const p = producer(k)
    await p.connect()
    const sent = Array.from({ length: 120 }, (_, i) => `v${i}`)
    await p.send({ topic: 'js-spread', messages: sent.map((value, i) => ({ key: `k${i}`, value })) })
    await p.disconnect()

    const consumer = k.consumer({ groupId: 'js-g' })
    await consumer.connect()
    await consumer.subscribe({ topic: 'js-spread', fromBeginning: true })
    const got = new Set()
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${got.size} of ${sent.length}`)), 60000)
      consumer.run({
        eachMessage: async ({ message }) => {
          got.add(message.value.toString())
          if (got.size === sent.length) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
    await consumer.disconnect()
    assert.deepEqual([...got].sort(), [...sent].sort())
  })
)
