#!/bin/sh
# Installs the fedca bundle of [fd00::7] (dendrite, TLS at the homeserver) on the
# homeserver. Written by fedca 0.1.0 (`fedca trust --for dendrite`).
#
# Copy the whole directory this script is in to the homeserver and run, as root:
#     sh install.sh
# It installs every file of the bundle into @OUT@ (--install-dir),
# owned by dendrite:dendrite (--owner): keys 0600, everything else 0644, directories
# 0755. The paths inside the configuration fragments already point there.
# Re-run it after every `fedca trust` (a renewed certificate, a new server in the
# federation, a root rotation); then reload the homeserver.
set -eu
umask 077
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
dest='@OUT@'
owner='dendrite'
group='dendrite'

if ! id -u "$owner" >/dev/null 2>&1; then
    echo "install.sh: user $owner does not exist on this host; re-run fedca trust with --owner USER[:GROUP]" >&2
    exit 1
fi

# put MODE FILE: installs $here/FILE as $dest/FILE (in place when they are the same).
put() {
    if [ "$here" = "$dest" ]; then
        chown "$owner:$group" "$dest/$2"
        chmod "$1" "$dest/$2"
    else
        install -o "$owner" -g "$group" -m "$1" "$here/$2" "$dest/$2"
    fi
}

install -d -m 0755 "$dest"
put 0644 'dendrite-fedca.yaml'
put 0755 'dendrite-run.sh'
put 0644 'fedca-roots.pem'
put 0644 'trust.env'
put 0644 'fullchain.pem'
put 0600 'key.pem'
echo "installed 6 file(s) for [fd00::7] into $dest (owner $owner:$group)"
