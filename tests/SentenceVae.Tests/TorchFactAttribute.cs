using System.Diagnostics;

namespace SentenceVae.Tests;

/// <summary>
/// A test that runs the PyTorch twin (<c>python/svae_twin</c>) with Debian's <c>python3-torch</c>. Where
/// /usr/bin/python3 cannot import torch, or /usr/bin/torchrun is missing, it is reported as skipped, with how to install them; with
/// SVAE_REQUIRE_TORCH=1 (set by .ci/run, which installs it) it always runs, so CI fails instead of skipping.
/// </summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3", Torchrun = "/usr/bin/torchrun";

    private static readonly Lazy<bool> available = new(() =>
    {
        if (!File.Exists(Python) || !File.Exists(Torchrun)) return false;
        try
        {
            using var p = Process.Start(new ProcessStartInfo(Python, ["-c", "import torch, numpy"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit(60_000);
            return p.HasExited && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    });

    public TorchFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("SVAE_REQUIRE_TORCH") != "1" && !available.Value)
            Skip = $"needs PyTorch for {Python} and {Torchrun} (apt-get install python3-torch); .ci/run installs it and requires this test";
    }
}
