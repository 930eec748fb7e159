namespace SentenceVae.Tests;

/// <summary>Where the tests find their fixtures (copied beside the test assembly) and the repository's data/.</summary>
public static class TestPaths
{
    public static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "fixtures", .. parts]);

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Data(string file) => Path.Combine(RepoRoot, "data", file);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SentenceVae.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("repository root (SentenceVae.slnx) not found above " + AppContext.BaseDirectory);
    }
}
