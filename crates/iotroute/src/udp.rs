//! UDP endpoints for ECHONET Lite: several nodes share port 3610 on distinct addresses.
//!
//! Every node binds `ADDR:3610` with SO_REUSEADDR and SO_REUSEPORT, so that a meter on
//! 127.0.0.2, a controller on 127.0.0.1 and a peer stack on 0.0.0.0 coexist on one
//! machine. A socket bound to a unicast address never sees datagrams sent to a group, so
//! a node bound to a specific address opens a second socket bound to the group
//! 224.0.23.0 itself, joined on the interface of its address; replies always leave from
//! the unicast socket, hence from port 3610.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// The ECHONET Lite IPv4 group.
pub fn group_v4() -> Ipv4Addr {
    Ipv4Addr::from(echonet::MULTICAST_V4)
}

/// A node's sockets: unicast on `addr:port`, plus the group socket when `addr` is not the
/// wildcard.
#[derive(Debug)]
pub struct Endpoint {
    unicast: UdpSocket,
    group: Option<UdpSocket>,
    local: SocketAddr,
}

/// One received datagram.
#[derive(Debug)]
pub struct Received {
    pub len: usize,
    pub from: SocketAddr,
    /// Whether it arrived through the group socket (a multicast request).
    pub multicast: bool,
}

impl Endpoint {
    /// Binds `addr:port` and, for IPv4, joins 224.0.23.0 on the interface of `addr`.
    pub fn bind(addr: IpAddr, port: u16) -> io::Result<Endpoint> {
        let unicast = shared_socket(SocketAddr::new(addr, port))?;
        let mut group = None;
        if let IpAddr::V4(v4) = addr {
            unicast.set_multicast_loop_v4(true)?;
            if v4.is_unspecified() {
                join(&unicast, Ipv4Addr::UNSPECIFIED);
            } else {
                unicast.set_multicast_if_v4(&v4)?;
                let g = shared_socket(SocketAddr::new(group_v4().into(), port))?;
                if join(&g, v4) {
                    group = Some(UdpSocket::from_std(g.into())?);
                }
            }
        }
        let local = unicast
            .local_addr()?
            .as_socket()
            .unwrap_or(SocketAddr::new(addr, port));
        Ok(Endpoint {
            unicast: UdpSocket::from_std(unicast.into())?,
            group,
            local,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for the next datagram on either socket.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        match &self.group {
            None => {
                let (len, from) = self.unicast.recv_from(buf).await?;
                Ok(Received {
                    len,
                    from,
                    multicast: false,
                })
            }
            Some(group) => {
                let mut gbuf = [0u8; 1500];
                tokio::select! {
                    r = self.unicast.recv_from(buf) => {
                        let (len, from) = r?;
                        Ok(Received { len, from, multicast: false })
                    }
                    r = group.recv_from(&mut gbuf) => {
                        let (len, from) = r?;
                        let len = len.min(buf.len());
                        buf[..len].copy_from_slice(&gbuf[..len]);
                        Ok(Received { len, from, multicast: true })
                    }
                }
            }
        }
    }

    /// Sends from the unicast socket, hence from our port.
    pub async fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.unicast.send_to(bytes, to).await
    }

    /// Where ECHONET Lite multicast goes for our address family.
    pub fn multicast_target(&self) -> SocketAddr {
        match self.local.ip() {
            IpAddr::V4(_) => SocketAddr::new(group_v4().into(), self.local.port()),
            IpAddr::V6(_) => SocketAddr::new(
                std::net::Ipv6Addr::from(echonet::MULTICAST_V6).into(),
                self.local.port(),
            ),
        }
    }
}

fn shared_socket(at: SocketAddr) -> io::Result<Socket> {
    let domain = if at.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&at.into())?;
    Ok(socket)
}

/// Joins the ECHONET Lite group on the interface of `iface`; a failure only costs
/// multicast reception, so it is logged, not fatal.
fn join(socket: &Socket, iface: Ipv4Addr) -> bool {
    match socket.join_multicast_v4(&group_v4(), &iface) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(%iface, error = %e, "cannot join 224.0.23.0; multicast requests will not be received");
            false
        }
    }
}
