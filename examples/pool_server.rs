//! The Rust Book's pool server (chapter 21): the lecture's handler on a
//! small `ThreadPool` of `num_cpus` workers fed over a crossbeam channel;
//! Ctrl-C stops accepting and joins the workers.
//!
//! The lecture's program as the lecture writes it, `unwrap()` and all. What
//! it gets wrong (the N+1th client, Ctrl-C with a client connected, ...):
//! `docs/from-lecture-to-upcase.md`; upcase's `--model fixed-pool` is this
//! shape hardened (`src/thread_pool.rs`, `src/models/fixed_pool.rs`).
//!
//! ```text
//! cargo run --example pool_server [ADDR]     # default 127.0.0.1:7878
//! ```

use crossbeam_channel::{unbounded, Receiver, Sender};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct ThreadPool {
    workers: Vec<Worker>,
    sender: Option<Sender<Job>>,
}

struct Worker {
    id: usize,
    thread: Option<JoinHandle<()>>,
}

impl ThreadPool {
    fn new(size: usize) -> ThreadPool {
        let (sender, receiver) = unbounded();
        let workers = (0..size)
            .map(|id| Worker::new(id, receiver.clone()))
            .collect();
        ThreadPool {
            workers,
            sender: Some(sender),
        }
    }

    fn execute(&self, job: impl FnOnce() + Send + 'static) {
        self.sender.as_ref().unwrap().send(Box::new(job)).unwrap();
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        drop(self.sender.take()); // workers leave their loop once the queue is empty
        for worker in &mut self.workers {
            println!("shutting down worker {}", worker.id);
            worker.thread.take().unwrap().join().unwrap();
        }
    }
}

impl Worker {
    fn new(id: usize, receiver: Receiver<Job>) -> Worker {
        let thread = thread::spawn(move || {
            for job in receiver {
                job();
            }
        });
        Worker {
            id,
            thread: Some(thread),
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    let listener = TcpListener::bind(addr).unwrap();
    let local = listener.local_addr().unwrap();
    ctrlc::set_handler(move || {
        STOP.store(true, Ordering::SeqCst);
        TcpStream::connect(local).unwrap(); // wakes the accept below
    })
    .unwrap();
    let pool = ThreadPool::new(num_cpus::get());
    println!("tcp listening on {local} with {} workers", num_cpus::get());

    for stream in listener.incoming() {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let stream = stream.unwrap();
        pool.execute(|| handle_connection(stream));
    }
    println!("shutting down");
} // dropping `pool` here joins every worker

/// The lecture's handler, as in `tcp_server.rs`.
fn handle_connection(mut stream: TcpStream) {
    let reader = BufReader::new(stream.try_clone().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let reply = line.to_uppercase() + "\n";
        stream.write_all(reply.as_bytes()).unwrap();
    }
}
