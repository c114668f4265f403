//! The tokio peer: a multi-thread runtime (a worker per CPU), one task per
//! connection reading lines through a `BufReader` and answering through a
//! `BufWriter` flushed whenever no further complete line is buffered; UDP
//! on one task.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

async fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut writer = BufWriter::with_capacity(16 * 1024, writer);
    let (mut line, mut reply) = (Vec::with_capacity(256), Vec::with_capacity(256));
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return writer.flush().await;
        }
        reply.clear();
        upcase_peers::upcase_into(&line, &mut reply);
        writer.write_all(&reply).await?;
        if !reader.buffer().contains(&b'\n') {
            writer.flush().await?;
        }
    }
}

async fn serve_udp(socket: UdpSocket) {
    let (mut datagram, mut reply) = (vec![0u8; 65536], Vec::with_capacity(65536));
    while let Ok((n, from)) = socket.recv_from(&mut datagram).await {
        reply.clear();
        upcase_peers::upcase_into(&datagram[..n], &mut reply);
        let _ = socket.send_to(&reply, from).await;
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (tcp, udp) = upcase_peers::addresses();
    let listener = TcpListener::bind(&tcp).await?;
    let socket = UdpSocket::bind(&udp).await?;
    println!("tcp listening on {}", listener.local_addr()?);
    println!("udp listening on {}", socket.local_addr()?);
    tokio::spawn(serve_udp(socket));
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = serve(stream).await;
        });
    }
}
