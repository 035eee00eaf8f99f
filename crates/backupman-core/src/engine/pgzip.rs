//! gzip on several threads, as pigz does it: the dump is cut into blocks of 128 KiB, each
//! block is deflated on a worker with the previous block's last 32 KiB as its dictionary
//! (so the output stays within about 1 % of single-threaded gzip), and the blocks, each
//! ended by a sync flush so they join on byte boundaries, form one ordinary gzip member that
//! `gunzip` reads.
//!
//! Memory is bounded: at most `2 × threads` blocks are in flight, and each worker holds one
//! deflate state (about 270 KiB at level 6).

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Plain bytes per block (pigz's default).
const BLOCK: usize = 128 * 1024;
/// deflate's window: what of the previous block a block may refer back to.
const WINDOW: usize = 32 * 1024;

/// One block for a worker.
struct Job {
    dictionary: Vec<u8>,
    data: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Vec<u8>>>,
}

/// A gzip encoder that compresses on `threads` worker threads; the caller's thread only
/// cuts blocks, keeps the CRC and gathers the output in order.
pub(super) struct ParallelGzip {
    block: Vec<u8>,
    dictionary: Vec<u8>,
    crc: crc32fast::Hasher,
    plain_size: u64,
    in_flight: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    max_in_flight: usize,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    out: Vec<u8>,
}

impl ParallelGzip {
    pub(super) fn new(level: u32, threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, queue) = sync_channel::<Job>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let queue = Arc::clone(&queue);
            workers.push(
                std::thread::Builder::new()
                    .name("backupman-gzip".into())
                    .spawn(move || work(&queue, level))?,
            );
        }
        // The gzip header: deflate, no name, no time, unknown OS (RFC 1952).
        let out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        Ok(Self {
            block: Vec::with_capacity(BLOCK),
            dictionary: Vec::new(),
            crc: crc32fast::Hasher::new(),
            plain_size: 0,
            in_flight: VecDeque::new(),
            max_in_flight: 2 * threads,
            jobs: Some(jobs),
            workers,
            out,
        })
    }

    pub(super) fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = (BLOCK - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.block.len() == BLOCK {
                self.dispatch(false)?;
            }
        }
        Ok(())
    }

    /// Output ready so far, in order; never waits for a worker.
    pub(super) fn take(&mut self) -> io::Result<Vec<u8>> {
        while let Some(front) = self.in_flight.front() {
            match front.try_recv() {
                Ok(result) => {
                    self.in_flight.pop_front();
                    self.out.extend_from_slice(&result?);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(worker_lost()),
            }
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Compresses the rest and returns the remaining output, gzip trailer included.
    pub(super) fn finish(mut self) -> io::Result<Vec<u8>> {
        self.dispatch(true)?;
        while !self.in_flight.is_empty() {
            self.gather_one()?;
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        self.out.extend_from_slice(&crc.to_le_bytes());
        // ISIZE is the plain size modulo 2^32 (RFC 1952).
        self.out
            .extend_from_slice(&(self.plain_size as u32).to_le_bytes());
        Ok(std::mem::take(&mut self.out))
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        self.crc.update(&data);
        self.plain_size += data.len() as u64;
        // Every block but the last is longer than the window: the next block's dictionary is
        // this block's end.
        let next = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let dictionary = std::mem::replace(&mut self.dictionary, next);
        let (done, result) = sync_channel(1);
        let job = Job {
            dictionary,
            data,
            last,
            done,
        };
        let jobs = self.jobs.as_ref().ok_or_else(worker_lost)?;
        jobs.send(job).map_err(|_| worker_lost())?;
        self.in_flight.push_back(result);
        while self.in_flight.len() > self.max_in_flight {
            self.gather_one()?;
        }
        Ok(())
    }

    fn gather_one(&mut self) -> io::Result<()> {
        let front = self.in_flight.pop_front().expect("a block is in flight");
        let compressed = front.recv().map_err(|_| worker_lost())??;
        self.out.extend_from_slice(&compressed);
        Ok(())
    }
}

impl Drop for ParallelGzip {
    fn drop(&mut self) {
        // Closing the queue ends every worker once it has finished its block.
        self.jobs = None;
        self.in_flight.clear();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn worker_lost() -> io::Error {
    io::Error::other("a gzip compression thread stopped")
}

fn work(queue: &Mutex<Receiver<Job>>, level: u32) {
    let mut deflate = Compress::new(Compression::new(level), false);
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let result = deflate_block(&mut deflate, &job);
        // The encoder may be gone (a failed run); its blocks are no longer wanted.
        let _ = job.done.send(result);
    }
}

fn deflate_block(deflate: &mut Compress, job: &Job) -> io::Result<Vec<u8>> {
    deflate.reset();
    if !job.dictionary.is_empty() {
        deflate
            .set_dictionary(&job.dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
    let start = deflate.total_in();
    loop {
        let consumed = usize::try_from(deflate.total_in() - start).expect("within a block");
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let status = deflate
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let consumed = usize::try_from(deflate.total_in() - start).expect("within a block");
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once every byte is in and deflate left room unused.
            _ if !job.last && consumed == job.data.len() && room_left => return Ok(out),
            _ => {}
        }
    }
}
