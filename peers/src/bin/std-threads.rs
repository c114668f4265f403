//! The plain std peer: one OS thread per connection, blocking I/O, a
//! `BufReader` and `write_all` per line batch; UDP on one thread.

use anyhow::Context as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::thread;

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(16 * 1024, &stream);
    let mut writer = &stream;
    let (mut line, mut reply) = (Vec::with_capacity(256), Vec::with_capacity(16 * 1024));
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return writer.write_all(&reply);
        }
        upcase_peers::upcase_into(&line, &mut reply);
        if !reader.buffer().contains(&b'\n') {
            writer.write_all(&reply)?;
            reply.clear();
        }
    }
}

fn main() -> ExitCode {
    upcase_peers::finish("std-threads", run())
}

fn run() -> anyhow::Result<()> {
    let (tcp, udp) = upcase_peers::addresses();
    let listener = TcpListener::bind(&tcp).with_context(|| format!("cannot bind {tcp} (tcp)"))?;
    let socket = UdpSocket::bind(&udp).with_context(|| format!("cannot bind {udp} (udp)"))?;
    println!("tcp listening on {}", listener.local_addr()?);
    println!("udp listening on {}", socket.local_addr()?);
    thread::spawn(move || {
        let (mut datagram, mut reply) = (vec![0u8; 65536], Vec::with_capacity(65536));
        while let Ok((n, from)) = socket.recv_from(&mut datagram) {
            reply.clear();
            upcase_peers::upcase_into(&datagram[..n], &mut reply);
            let _ = socket.send_to(&reply, from);
        }
    });
    for stream in listener.incoming().flatten() {
        thread::spawn(move || serve(stream));
    }
    Ok(())
}
