namespace SentenceVae.Training;

/// <summary>
/// The one trainer of a run directory: an exclusive lock on <c>RUN/.lock</c> held while the trainer lives
/// (the operating system's advisory lock, released when the process ends however it ends, so a lock
/// file left by a killed trainer is stale by construction and simply taken over). <c>RUN/.lock.owner</c>
/// names the holder's process id, so a second trainer is told who holds the run.
/// </summary>
public sealed class RunLock : IDisposable
{
    /// <summary>The lock file's name inside the run directory.</summary>
    public const string FileName = ".lock";
    private const string OwnerFile = ".lock.owner";
    private readonly FileStream stream;

    private RunLock(FileStream stream) => this.stream = stream;

    /// <summary>Takes the run's lock (creating the directory); throws <see cref="IOException"/> naming the process that holds it.</summary>
    public static RunLock Acquire(string runDir)
    {
        Directory.CreateDirectory(runDir);
        string path = Path.Combine(runDir, FileName);
        try
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            File.WriteAllText(Path.Combine(runDir, OwnerFile), $"{Environment.ProcessId} {Environment.MachineName} {DateTime.UtcNow:O}\n");
            return new RunLock(stream);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            string holder = "another process";
            try
            {
                var words = File.ReadAllText(Path.Combine(runDir, OwnerFile)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (words.Length > 0 && int.TryParse(words[0], out int pid)) holder = $"process {pid}";
            }
            catch (IOException) { }
            throw new IOException($"{runDir} is being trained by {holder} (it holds {path}); wait for it to end or choose another --out");
        }
    }

    /// <summary>Releases the lock (the file stays; the next trainer takes it over).</summary>
    public void Dispose() => stream.Dispose();
}
