//! Several Kavka nodes in the test's process, one metadata quorum: every node broker and
//! controller (as `kavka dev-cluster` starts them), each a [`Broker`] with its own runtime,
//! directory and relay, so each has the fault hooks.

use std::net::TcpListener;

use crate::{Broker, Builder, Error};

/// How a [`Cluster`] starts.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: u16,
    node: Builder,
    topics: Vec<(String, i32, i16)>,
}

impl Default for ClusterBuilder {
    fn default() -> ClusterBuilder {
        ClusterBuilder {
            nodes: 3,
            node: Builder::default().worker_threads(1),
            topics: Vec::new(),
        }
    }
}

impl ClusterBuilder {
    /// The number of nodes (default 3), every one broker and voter.
    pub fn nodes(mut self, nodes: u16) -> ClusterBuilder {
        self.nodes = nodes.max(1);
        self
    }

    /// One configuration key, for every node.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> ClusterBuilder {
        self.node = self.node.config(key, value);
        self
    }

    /// A topic created once every broker is registered, before [`ClusterBuilder::start`]
    /// returns.
    pub fn topic(
        mut self,
        name: impl Into<String>,
        partitions: u32,
        replication_factor: u16,
    ) -> ClusterBuilder {
        self.topics.push((
            name.into(),
            i32::try_from(partitions).unwrap_or(i32::MAX),
            i16::try_from(replication_factor).unwrap_or(i16::MAX),
        ));
        self
    }

    /// Starts every node and waits until each answers Metadata naming all the brokers.
    pub async fn start(self) -> Result<Cluster, Error> {
        let mut ports = Vec::new();
        for _ in 0..self.nodes {
            // Bound then released: the quorum's voters are named by port before they start.
            ports.push(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
        }
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
            .collect();
        let cluster_id = kavka_broker::storage_tool::random_uuid();
        let mut nodes = Vec::new();
        for id in 1..=i32::from(self.nodes) {
            let mut node = self.node.prepare(self.node.runtime()?).await?;
            node.node_id = id;
            node.wiring = vec![
                "process.roles=broker,controller".to_string(),
                format!("controller.quorum.voters={}", voters.join(",")),
            ];
            node.format(&cluster_id)?;
            nodes.push(node);
        }
        for node in &mut nodes {
            node.launch().await?;
        }
        let cluster = Cluster { nodes };
        cluster.wait_registered().await?;
        if !self.topics.is_empty() {
            cluster.nodes[0].create_topics(&self.topics).await?;
        }
        Ok(cluster)
    }
}

/// Several nodes of one cluster in this process; node ids 1..=n.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Broker>,
}

impl Cluster {
    /// Three nodes with the defaults.
    pub async fn start() -> Result<Cluster, Error> {
        ClusterBuilder::default().start().await
    }

    /// A cluster with settings and topics.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// Every node's address, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        let all: Vec<String> = self.nodes.iter().map(Broker::bootstrap).collect();
        all.join(",")
    }

    /// Node `id` (1-based), with its fault hooks.
    pub fn node(&self, id: i32) -> &Broker {
        &self.nodes[Self::index(id)]
    }

    /// Node `id` (1-based), to kill or restart it.
    pub fn node_mut(&mut self, id: i32) -> &mut Broker {
        &mut self.nodes[Self::index(id)]
    }

    fn index(id: i32) -> usize {
        usize::try_from(id - 1).expect("node ids start at 1")
    }

    /// Waits until every running node answers Metadata naming every running broker.
    pub async fn wait_registered(&self) -> Result<(), Error> {
        let running: Vec<&Broker> = self.nodes.iter().filter(|n| n.is_running()).collect();
        let want = running.len();
        for node in &running {
            node.wait_brokers(want).await?;
        }
        Ok(())
    }

    /// Stops every node cleanly and removes their data.
    pub async fn stop(self) -> Result<(), Error> {
        let mut first_error = None;
        for node in self.nodes {
            if let Err(e) = node.stop().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
