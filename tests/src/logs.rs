//! [`LogCapture`]: what in-process nodes log, captured for tests that inspect it.

/// Everything every in-process node logs at debug level, captured for inspection.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capture as this test process's subscriber (chatly at debug, the rest at info).
    pub fn install() -> LogCapture {
        let capture = LogCapture::default();
        let writer = capture.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("chatly=debug,info"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        capture
    }

    /// Whether the captured log contains `needle`.
    pub fn contains(&self, needle: &[u8]) -> bool {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.windows(needle.len()).any(|w| w == needle)
    }

    /// Bytes captured so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
