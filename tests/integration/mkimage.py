#!/usr/bin/env python3
"""mkimage.py FORMAT OUT < DESCRIPTION.json: writes a container image for the
image tests, with nothing downloaded.

FORMAT
  docker      a legacy `docker save` archive (manifest.json, repositories,
              <id>/layer.tar, <hex>.json)
  docker-oci  what newer Docker writes: manifest.json and an OCI layout
              (index.json, blobs/sha256/...) in one tar
  oci-dir     an OCI image layout directory
  oci-tar     the same layout as a tar

DESCRIPTION (JSON on stdin)
  {"tags": ["name:tag"],              RepoTags / ref.name annotations
   "config": {...},                   the image config's "config" object
   "layers": [LAYER, ...],
   "platforms": ["linux/amd64", ...], optional: an index per platform
   "corrupt": {KIND: LAYER-INDEX}}    see CORRUPTIONS

LAYER
  {"dir": PATH}                       the tree at PATH ("." is its root)
  {"entries": [ENTRY, ...]}           hand-made entries, in this order
  {"tar": PATH}                       the (uncompressed) tar at PATH as is
  plus "compress": "gzip" | "zstd"    (default: none)

ENTRY
  {"path": P, "type": "file"|"dir"|"symlink"|"hardlink"|"chr"|"blk"|"fifo",
   "data": TEXT, "target": T, "mode": N, "uid": N, "gid": N,
   "major": N, "minor": N, "xattrs": {NAME: VALUE},
   "random": N}                       a file of N random bytes

CORRUPTIONS (each names a layer index)
  digest     the layer's bytes change after its digest was taken
  truncate   the layer is cut in half (its digest matches the cut bytes)
  missing    the layer's blob is left out of the archive
  diffid     the config lists a wrong diffID for the layer
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
FIXED_TIME = 1700000000


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["path"])
            ti.mtime = e.get("mtime", FIXED_TIME)
            ti.uid = e.get("uid", 0)
            ti.gid = e.get("gid", 0)
            kind = e.get("type", "file")
            data = None
            if kind == "file":
                data = os.urandom(e["random"]) if "random" in e else \
                    e.get("data", "").encode()
                ti.size = len(data)
                ti.mode = e.get("mode", 0o644)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = e.get("mode", 0o755)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e["target"]
                ti.mode = 0o777
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e["target"]
                ti.mode = e.get("mode", 0o644)
            elif kind in ("chr", "blk"):
                ti.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                ti.devmajor = e.get("major", 0)
                ti.devminor = e.get("minor", 0)
                ti.mode = e.get("mode", 0o600)
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                ti.mode = e.get("mode", 0o600)
            else:
                raise SystemExit("unknown entry type " + kind)
            if e.get("xattrs"):
                ti.pax_headers = {"SCHILY.xattr." + k: v
                                  for k, v in e["xattrs"].items()}
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def dir_tar(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(path, arcname=".", filter=lambda ti: None
              if ti.name == "./.stamp" else ti)
    return buf.getvalue()


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    return data


def media_type(how):
    return MT_LAYER + ({"gzip": "+gzip", "zstd": "+zstd"}.get(how, ""))


class Image:
    def __init__(self, desc, arch="amd64"):
        self.desc = desc
        corrupt = desc.get("corrupt", {})
        self.layers = []  # (blob bytes, digest, diffid, media type)
        self.missing = set()
        for i, spec in enumerate(desc["layers"]):
            if "tar" in spec:
                with open(spec["tar"], "rb") as f:
                    raw = f.read()
            else:
                raw = dir_tar(spec["dir"]) if "dir" in spec else \
                    entry_tar(spec["entries"])
            diffid = sha(raw)
            blob = compress(raw, spec.get("compress"))
            if corrupt.get("truncate") == i:
                blob = blob[:len(blob) // 2]
            digest = sha(blob)
            if corrupt.get("digest") == i:
                blob = blob[:-1] + bytes([blob[-1] ^ 0xff])
            if corrupt.get("diffid") == i:
                diffid = sha(b"not this layer")
            if corrupt.get("missing") == i:
                self.missing.add(digest)
            self.layers.append((blob, digest, diffid,
                                media_type(spec.get("compress"))))
        self.config = json.dumps({
            "architecture": arch, "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": desc.get("config", {}),
            "rootfs": {"type": "layers",
                       "diff_ids": [l[2] for l in self.layers]},
            "history": [{"created_by": "mkimage.py"} for _ in self.layers],
        }).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": sha(self.config),
                       "size": len(self.config)},
            "layers": [{"mediaType": l[3], "digest": l[1],
                        "size": len(l[0])} for l in self.layers],
        }).encode()

    def blobs(self):
        out = {sha(self.config): self.config, sha(self.manifest): self.manifest}
        for blob, digest, _, _ in self.layers:
            if digest not in self.missing:
                out[digest] = blob
        return out


def oci_files(desc):
    """The files of an OCI layout: {path: bytes}."""
    platforms = desc.get("platforms")
    files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode()}
    tags = desc.get("tags") or [None]
    if platforms:
        images = []
        for p in platforms:
            arch = p.split("/")[1]
            images.append((p, Image(desc, arch)))
        entries = []
        for p, img in images:
            for d, b in img.blobs().items():
                files["blobs/sha256/" + d[7:]] = b
            os_, arch = p.split("/")[:2]
            entries.append({"mediaType": MT_MANIFEST,
                            "digest": sha(img.manifest),
                            "size": len(img.manifest),
                            "platform": {"os": os_, "architecture": arch}})
        index = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX,
                            "manifests": entries}).encode()
        files["blobs/sha256/" + sha(index)[7:]] = index
        top = [{"mediaType": MT_INDEX, "digest": sha(index),
                "size": len(index),
                **({"annotations": {"org.opencontainers.image.ref.name": t}}
                   if t else {})} for t in tags]
    else:
        img = Image(desc)
        for d, b in img.blobs().items():
            files["blobs/sha256/" + d[7:]] = b
        top = [{"mediaType": MT_MANIFEST, "digest": sha(img.manifest),
                "size": len(img.manifest),
                **({"annotations": {"org.opencontainers.image.ref.name": t}}
                   if t else {})} for t in tags]
    files["index.json"] = json.dumps({"schemaVersion": 2,
                                      "mediaType": MT_INDEX,
                                      "manifests": top}).encode()
    return files


def docker_files(desc, with_oci):
    img = Image(desc)
    files = {}
    if with_oci:
        files.update(oci_files(desc))
        cfg = "blobs/sha256/" + sha(img.config)[7:]
        layers = ["blobs/sha256/" + l[1][7:] for l in img.layers]
        for l in img.layers:
            if l[1] in img.missing:
                files.pop("blobs/sha256/" + l[1][7:], None)
    else:
        cfg = sha(img.config)[7:] + ".json"
        files[cfg] = img.config
        layers = []
        for blob, digest, _, _ in img.layers:
            path = digest[7:] + "/layer.tar"
            layers.append(path)
            if digest not in img.missing:
                files[path] = blob
                files[digest[7:] + "/VERSION"] = b"1.0"
        files["repositories"] = json.dumps({}).encode()
    files["manifest.json"] = json.dumps([{
        "Config": cfg, "RepoTags": desc.get("tags") or None,
        "Layers": layers}]).encode()
    return files


def write_tar(out, files):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for path, data in files.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mtime = FIXED_TIME
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))


def write_dir(out, files):
    for path, data in files.items():
        p = os.path.join(out, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    fmt, out = sys.argv[1], sys.argv[2]
    desc = json.load(sys.stdin)
    if fmt == "docker":
        write_tar(out, docker_files(desc, False))
    elif fmt == "docker-oci":
        write_tar(out, docker_files(desc, True))
    elif fmt == "oci-dir":
        write_dir(out, oci_files(desc))
    elif fmt == "oci-tar":
        write_tar(out, oci_files(desc))
    else:
        raise SystemExit("unknown format " + fmt)


if __name__ == "__main__":
    main()
