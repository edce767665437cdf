#!/bin/sh
# guest-tests.sh: runs inside the vivid VM (busybox sh, /dev/video0 = vivid capture, /dev/video1 = vivid output). Every step writes its
# output, log and exit status into /results; VividVMTests (Tests/CondSegCaptureTests) judges them on the host.
R=/results
step() { echo "== $* ($(cut -d' ' -f1 /proc/uptime) s)" | tee /dev/console; }
# Every command runs under a time limit so a hang fails the check instead of stalling the VM.
condseg() { timeout -s KILL 60 /bin/condseg "$@"; }
ctl() { condseg capture --device /dev/video0 --set-ctrl "$1" --frames 0 2>>$R/controls-set.log; }

step "controls"
condseg capture --device /dev/video0 --list-controls >$R/controls.txt 2>&1; echo $? >$R/controls.rc

# 1. Capture at two formats and sizes; frames as PNG for the colour-bar check.
step "capture yuyv 640x480"
condseg capture --device /dev/video0 --format yuyv --capture-size 640x480 --frames 6 --out $R/cap-yuyv-640x480 --json \
    >$R/cap-yuyv-640x480.json 2>$R/cap-yuyv-640x480.log; echo $? >$R/cap-yuyv-640x480.rc
step "capture nv12 320x180"
condseg capture --device /dev/video0 --format nv12 --capture-size 320x180 --frames 6 --out $R/cap-nv12-320x180 --json \
    >$R/cap-nv12-320x180.json 2>$R/cap-nv12-320x180.log; echo $? >$R/cap-nv12-320x180.rc

# 2. Live with a buffer returned by DQBUF with V4L2_BUF_FLAG_ERROR (dropped, counted as corrupt), then a
#    fatal streaming error (DQBUF fails with EIO, poll reports POLLERR: overlay cleared, "no video", device
#    reopened, streaming resumes), then SIGTERM: the run must stop cleanly (exit 0, statistics printed).
step "live + DQBUF error + EIO + SIGTERM"
timeout -s KILL 60 /bin/condseg live --device /dev/video0 --fake-segmenter --format yuyv --capture-size 320x180 --overlay-out $R/live-dqbuf \
    --every 5 --stats --json >$R/live-dqbuf.json 2>$R/live-dqbuf.log &
pid=$!
sleep 4
ctl "Inject V4L2_BUF_FLAG_ERROR=1"; echo $? >$R/inject-dqbuf.rc
sleep 2
ctl "Inject Fatal Streaming Error=1"; echo $? >$R/inject-fatal.rc
sleep 4
kill -TERM $pid
wait $pid; echo $? >$R/live-dqbuf.rc

# 3. Live, then the device is unplugged (vivid's Disconnect): the overlay is cleared at once, "no video" is
#    logged, the device is reopened with back-off (vivid re-registers the node once streaming stops) and
#    streaming resumes; SIGTERM then ends the run cleanly.
step "live + disconnect + replug"
timeout -s KILL 60 /bin/condseg live --device /dev/video0 --fake-segmenter --format uyvy --capture-size 320x180 --overlay-out $R/live-disconnect \
    --every 5 --stats --json >$R/live-disconnect.json 2>$R/live-disconnect.log &
pid=$!
sleep 4
ctl "Disconnect=1"; echo $? >$R/inject-disconnect.rc
sleep 5
kill -TERM $pid
wait $pid; echo $? >$R/live-disconnect.rc
# 4. The overlaid stream on a V4L2 output device (vivid's video output node, /dev/video1), 6 s.
step "live -> v4l2 output"
timeout -s KILL 60 /bin/condseg live --device /dev/video0 --fake-segmenter --format yuyv --capture-size 320x180 \
    --v4l2-out /dev/video1 --duration 6 --stats --json >$R/live-v4l2out.json 2>$R/live-v4l2out.log
echo $? >$R/live-v4l2out.rc
step "done"
