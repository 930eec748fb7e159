using System.Diagnostics;

namespace SentenceVae.Tests;

/// <summary>
/// A test that mounts a small tmpfs (to fill a disk on purpose): it runs where mounting works (root with
/// the right to mount, as on CI and the development machines here) and is reported as skipped, with
/// the reason, elsewhere.
/// </summary>
public sealed class MountFactAttribute : FactAttribute
{
    private static readonly string? Unavailable = Probe();

    public MountFactAttribute()
    {
        if (Unavailable is not null) Skip = $"needs to mount a tmpfs (root with the right to mount): {Unavailable}";
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        string dir = Directory.CreateTempSubdirectory("svae-mount-probe").FullName;
        try
        {
            using var mount = Process.Start(new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]) { RedirectStandardError = true })!;
            mount.WaitForExit();
            if (mount.ExitCode != 0) return mount.StandardError.ReadToEnd().Trim();
            Process.Start("umount", [dir])!.WaitForExit();
            return null;
        }
        catch (Exception e) { return e.Message; }
        finally { try { Directory.Delete(dir); } catch (IOException) { } }
    }
}
