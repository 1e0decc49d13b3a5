//! Network isolation of workers and the allowlisting egress proxy.
//!
//! Policy `allowlist`: every worker gets a private bridge network that is `internal` (no route out) and has
//! `inhibit_ipv4` set (the host has no address on it, so host services — Redis, Postgres, the metadata
//! address — are unreachable). The fleet's proxy container (tinyproxy, default-deny) sits on that network as
//! `egress-proxy` and on the fleet's egress network, and forwards only to the allowlisted `host:port` pairs.
//! Policy `none`: the worker has loopback only.
//!
//! Worker networks take a subnet from the configured pool, starting at an index derived from the network name:
//! Docker allows duplicate network names but refuses overlapping subnets, so two spawners racing for the same
//! worker collide and the loser adopts the winner's network.

pub mod policy;

use std::collections::HashMap;
use std::sync::Arc;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectNetworkOptions, RemoveContainerOptionsBuilder,
};
use tracing::{info, warn};

use crate::config::{EgressPolicy, WorkerSpawnerConfig};
use crate::docker::{DockerError, is_conflict, is_not_found, status_code};
use crate::names::{self, PROXY_CONFIG, ROLE_EGRESS_NETWORK, ROLE_PROXY};
use crate::sandbox::{Attachment, PROXY_ALIAS};
use policy::{ProxyConfig, SubnetPool};

/// Subnets tried per network before giving up.
const MAX_SUBNET_ATTEMPTS: u32 = 64;

/// Creates and removes worker networks and keeps the fleet's proxy running.
#[derive(Clone)]
pub struct Egress {
    docker: Docker,
    config: Arc<WorkerSpawnerConfig>,
    pool: SubnetPool,
    proxy: ProxyConfig,
}

impl Egress {
    /// Validates the egress settings.
    pub fn new(docker: Docker, config: Arc<WorkerSpawnerConfig>) -> Result<Self, String> {
        let allow = policy::parse_allowlist(&config.egress.allow)?;
        let pool = SubnetPool::parse(&config.egress.network_pool, config.egress.subnet_prefix)?;
        Ok(Self {
            docker,
            proxy: ProxyConfig::render(&allow),
            config,
            pool,
        })
    }

    fn allowlist(&self) -> bool {
        self.config.egress.policy == EgressPolicy::Allowlist
    }

    /// Makes sure the egress network and an up-to-date proxy exist and run (policy `allowlist` only).
    pub async fn ensure_fleet(&self) -> Result<(), DockerError> {
        if !self.allowlist() {
            return Ok(());
        }
        let id = &self.config.spawner_id;
        let network = names::egress_network(id);
        let labels = names::fleet_labels(id, ROLE_EGRESS_NETWORK);
        self.ensure_network(&network, false, labels).await?;
        self.ensure_proxy(&network).await
    }

    async fn ensure_proxy(&self, network: &str) -> Result<(), DockerError> {
        let name = names::proxy_container(&self.config.spawner_id);
        match self.docker.inspect_container(&name, None).await {
            Ok(existing) => {
                let labels = existing.config.and_then(|c| c.labels).unwrap_or_default();
                let running = existing.state.and_then(|s| s.running).unwrap_or(false);
                if labels.get(PROXY_CONFIG) == Some(&self.proxy.hash()) {
                    if !running {
                        self.start_proxy(&name).await?;
                    }
                    return Ok(());
                }
                info!(proxy = %name, "egress allowlist changed; recreating the proxy");
                self.remove_container(&name).await?;
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(DockerError::api("inspect proxy")(e)),
        }
        self.create_proxy(&name, network).await?;
        self.start_proxy(&name).await?;
        self.reconnect_worker_networks(&name).await
    }

    async fn create_proxy(&self, name: &str, network: &str) -> Result<(), DockerError> {
        let mut labels = names::fleet_labels(&self.config.spawner_id, ROLE_PROXY);
        labels.insert(PROXY_CONFIG.to_owned(), self.proxy.hash());
        let script = "printf '%s\\n' \"$PROXY_CONF\" >/tmp/tinyproxy.conf && \
                      printf '%s\\n' \"$PROXY_FILTER\" >/tmp/filter && \
                      exec tinyproxy -d -c /tmp/tinyproxy.conf";
        let body = ContainerCreateBody {
            image: Some(self.config.proxy_image().to_owned()),
            cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
            user: Some("65534:65534".into()),
            env: Some(vec![
                format!("PROXY_CONF={}", self.proxy.conf),
                format!("PROXY_FILTER={}", self.proxy.filter),
            ]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                runtime: Some(self.config.docker.runtime.clone()),
                network_mode: Some(network.to_owned()),
                memory: Some(128 * 1024 * 1024),
                memory_swap: Some(128 * 1024 * 1024),
                pids_limit: Some(256),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                readonly_rootfs: Some(true),
                init: Some(true),
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_owned(),
                    "rw,nosuid,nodev,noexec,size=16m".to_owned(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()), // a peer replica created it just now
            Err(e) => Err(DockerError::api("create proxy")(e)),
        }
    }

    async fn start_proxy(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.start_container(name, None).await {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(304) => Ok(()), // already running
            Err(e) => Err(DockerError::api("start proxy")(e)),
        }
    }

    /// After a proxy was recreated, puts it back on the networks of running workers.
    async fn reconnect_worker_networks(&self, proxy: &str) -> Result<(), DockerError> {
        let filter = names::role_filter(&self.config.spawner_id, names::ROLE_WORKER_NETWORK);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
            .filters(&filter)
            .build();
        let networks = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(DockerError::api("list networks"))?;
        for network in networks.into_iter().filter_map(|n| n.name) {
            self.connect_proxy(proxy, &network).await?;
        }
        Ok(())
    }

    /// Creates a worker's network (policy `allowlist`) and returns how the worker attaches to it; the proxy is
    /// connected separately ([`Egress::connect_worker_network`]) so that can overlap with creating the container.
    pub async fn prepare_network(
        &self,
        network: &str,
        labels: HashMap<String, String>,
    ) -> Result<Attachment, DockerError> {
        if !self.allowlist() {
            return Ok(Attachment::None);
        }
        self.ensure_network(network, true, labels).await?;
        Ok(Attachment::Private {
            network: network.to_owned(),
        })
    }

    /// Puts the proxy on a worker network (as `egress-proxy`), recreating a vanished proxy once.
    pub async fn connect_worker_network(&self, attachment: &Attachment) -> Result<(), DockerError> {
        let Attachment::Private { network } = attachment else {
            return Ok(());
        };
        let proxy = names::proxy_container(&self.config.spawner_id);
        if let Err(e) = self.connect_proxy(&proxy, network).await {
            // The proxy may have been removed (a peer's shutdown, an operator); bring it back once.
            warn!(error = %e, "cannot reach the egress proxy; recreating it");
            self.ensure_fleet().await?;
            self.connect_proxy(&proxy, network).await?;
        }
        Ok(())
    }

    async fn connect_proxy(&self, proxy: &str, network: &str) -> Result<(), DockerError> {
        let request = NetworkConnectRequest {
            container: proxy.to_owned(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(vec![PROXY_ALIAS.to_owned()]),
                ..Default::default()
            }),
        };
        match self.docker.connect_network(network, request).await {
            Ok(()) => Ok(()),
            Err(e) if already_connected(&e) => Ok(()),
            Err(e) => Err(DockerError::api("connect proxy")(e)),
        }
    }

    /// Returns the network named `name`, creating it on a free subnet of the pool.
    async fn ensure_network(
        &self,
        name: &str,
        internal: bool,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        let start = self.pool.start_index(name);
        for attempt in 0..MAX_SUBNET_ATTEMPTS {
            if self.network_exists(name).await? {
                return Ok(());
            }
            let subnet = self.pool.subnet(start.wrapping_add(attempt));
            match self
                .docker
                .create_network(network_request(name, internal, &subnet, labels.clone()))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_overlap(&e) => continue,
                Err(e) => return Err(DockerError::api("create network")(e)),
            }
        }
        Err(DockerError::PoolExhausted {
            pool: self.config.egress.network_pool.clone(),
            prefix: self.config.egress.subnet_prefix,
        })
    }

    async fn network_exists(&self, name: &str) -> Result<bool, DockerError> {
        match self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(DockerError::api("inspect network")(e)),
        }
    }

    /// Disconnects the proxy from a worker network and removes the network; missing objects are fine.
    pub async fn release(&self, network: &str) -> Result<(), DockerError> {
        if !self.allowlist() {
            return Ok(());
        }
        let proxy = names::proxy_container(&self.config.spawner_id);
        let request = NetworkDisconnectRequest {
            container: proxy,
            force: Some(true),
        };
        if let Err(e) = self.docker.disconnect_network(network, request).await
            && !is_not_found(&e)
            && status_code(&e) != Some(500)
        {
            warn!(network, error = %e, "could not disconnect the proxy");
        }
        match self.docker.remove_network(network).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api("remove network")(e)),
        }
    }

    /// Removes the proxy and the egress network (when the fleet has no workers left).
    pub async fn shutdown_fleet(&self) -> Result<(), DockerError> {
        if !self.allowlist() {
            return Ok(());
        }
        let id = &self.config.spawner_id;
        self.remove_container(&names::proxy_container(id)).await?;
        match self.docker.remove_network(&names::egress_network(id)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api("remove egress network")(e)),
        }
    }

    async fn remove_container(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api("remove container")(e)),
        }
    }
}

fn network_request(
    name: &str,
    internal: bool,
    subnet: &str,
    labels: HashMap<String, String>,
) -> NetworkCreateRequest {
    let mut options = HashMap::new();
    if internal {
        // The host gets no address on a worker network: nothing on the host is reachable from it.
        options.insert(
            "com.docker.network.bridge.inhibit_ipv4".to_owned(),
            "true".to_owned(),
        );
    } else {
        // Containers on the egress network (proxies of other fleets) cannot talk to each other.
        options.insert(
            "com.docker.network.bridge.enable_icc".to_owned(),
            "false".to_owned(),
        );
    }
    NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        internal: Some(internal),
        options: Some(options),
        labels: Some(labels),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn is_overlap(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("overlaps"))
}

fn already_connected(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("already exists"))
}
