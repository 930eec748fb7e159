using System.Diagnostics;

namespace SentenceVae.Tests.Package;

/// <summary>
/// A consumer's view: the library packed into a folder feed, the sample app restored from that feed
/// (not the project) into a clean output folder, run on a shipped model. Proves that the package
/// carries what an app needs, including the buildTransitive step that lets libtorch load on Debian 12.
/// </summary>
public class QuickStartSampleTests
{
    private static (int Code, string Output) Run(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5))) { process.Kill(true); throw new TimeoutException($"dotnet {string.Join(' ', args)} took over 5 minutes"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void ThePackedLibraryBuildsAndRunsTheSampleOnACleanOutput()
    {
        // A version of its own, so the NuGet cache never serves an older pack of the same number.
        string version = $"0.7.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string work = Directory.CreateTempSubdirectory("svae-sample").FullName;
        string cached = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "sentencevae", version);
        try
        {
            string feed = Path.Combine(work, "feed");
            var pack = Run(TestPaths.RepoRoot, "pack", Path.Combine("src", "SentenceVae"), "-c", "Release", "-o", feed, $"-p:Version={version}", "--nologo");
            Assert.True(pack.Code == 0, pack.Output);
            string nupkg = Path.Combine(feed, $"SentenceVae.{version}.nupkg");
            using (var zip = System.IO.Compression.ZipFile.OpenRead(nupkg))
            {
                var entries = zip.Entries.Select(e => e.FullName).ToList();
                Assert.Contains("lib/net10.0/SentenceVae.dll", entries);
                Assert.Contains("lib/net10.0/SentenceVae.xml", entries);                  // the API documentation
                Assert.Contains("buildTransitive/SentenceVae.targets", entries);            // the Debian 12 step
                Assert.Contains("README.md", entries);
            }
            Assert.DoesNotContain("warning CS15", pack.Output);                              // no missing or broken doc comments

            // The sample, copied out of the repository, restored from the feed into an empty output folder.
            string sample = Path.Combine(work, "samples");
            CopyDirectory(Path.Combine(TestPaths.RepoRoot, "samples"), sample);
            string output = Path.Combine(work, "out");
            var build = Run(Path.Combine(sample, "QuickStart"), "build", $"-p:SentenceVaeFeed={feed}", $"-p:SentenceVaeVersion={version}", "-o", output, "--nologo");
            Assert.True(build.Code == 0, build.Output);
            Assert.False(File.Exists(Path.Combine(output, "svae.dll")), "the sample must not see the repository's projects");

            var run = Run(output, Path.Combine(output, "QuickStart.dll"), Path.Combine(TestPaths.RepoRoot, "models", "sllm-256-e2e"));
            Assert.True(run.Code == 0, run.Output);
            var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains(lines, l => l.StartsWith("piece 0: ") && l.Length > "piece 0: ".Length);
            Assert.Contains(lines, l => l.StartsWith("vector: 256 floats"));
        }
        finally
        {
            Directory.Delete(work, true);
            if (Directory.Exists(cached)) Directory.Delete(cached, true);
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            if (!dir.Contains($"{Path.DirectorySeparatorChar}bin") && !dir.Contains($"{Path.DirectorySeparatorChar}obj"))
                Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj")) continue;
            File.Copy(file, Path.Combine(to, relative));
        }
    }
}
