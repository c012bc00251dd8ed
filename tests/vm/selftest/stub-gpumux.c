// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in gpumux.ko for testing the VM rig itself (tests/vm/selftest.sh),
 * not the real module.  It offers what the rig looks at:
 *
 *   /dev/gpumux                        a misc device (holding it open pins
 *                                      the module, so rmmod is refused)
 *   /sys/kernel/debug/gpumux/counters  "name value" lines, all 0
 *   /sys/kernel/debug/gpumux/state     a line of text
 *   /sys/kernel/debug/gpumux/warn      writing to it triggers a WARN()
 *   /sys/kernel/debug/gpumux/leak      writing to it sets "tenants" to 1
 *   ioctl STUB_IOC_OOPS on /dev/gpumux  BUG(): an oops kills the caller
 *   ioctl STUB_IOC_STALL                sleeps 25 s, unkillable
 *
 * Built with -DSTUB_FAIL_INIT, loading it fails (-ENODEV).
 *
 * When the kernel has CONFIG_CRC8 (Debian builds it as a module), the stub
 * uses crc8 so that it depends on another module, which proves the rig
 * puts dependencies in the initramfs and loads them first.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#if IS_ENABLED(CONFIG_CRC8)
#include <linux/crc8.h>
#endif

static struct dentry *stub_dir;
static unsigned long stub_tenants;

static int stub_counters_show(struct seq_file *m, void *v)
{
	static const char *const names[] = { "tenants", "buffers", "pages",
					     "pinned_bytes", "grants",
					     "pending_cmds", "commands" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		seq_printf(m, "%s %lu\n", names[i], i == 0 ? stub_tenants : 0);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stub_counters);

static int stub_state_show(struct seq_file *m, void *v)
{
	seq_puts(m, "stub gpumux: no GPUs, no tenants\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stub_state);

static ssize_t stub_warn_write(struct file *f, const char __user *buf,
			       size_t len, loff_t *pos)
{
	WARN(1, "gpumux stub: WARN requested from userspace\n");
	return len;
}

static const struct file_operations stub_warn_fops = {
	.owner = THIS_MODULE,
	.write = stub_warn_write,
};

static ssize_t stub_leak_write(struct file *f, const char __user *buf,
			       size_t len, loff_t *pos)
{
	stub_tenants = 1;
	return len;
}

static const struct file_operations stub_leak_fops = {
	.owner = THIS_MODULE,
	.write = stub_leak_write,
};

#define STUB_IOC_OOPS _IO('G', 0xf0)
#define STUB_IOC_STALL _IO('G', 0xf1)

static int stub_open(struct inode *inode, struct file *file)
{
	return 0;
}

static long stub_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case STUB_IOC_OOPS:
		BUG();
	case STUB_IOC_STALL:
		msleep(25000);	/* TASK_UNINTERRUPTIBLE: SIGKILL waits */
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations stub_fops = {
	.owner = THIS_MODULE,
	.open = stub_open,
	.unlocked_ioctl = stub_ioctl,
};

static struct miscdevice stub_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gpumux",
	.fops = &stub_fops,
	.mode = 0666,
};

static int __init stub_init(void)
{
#ifdef STUB_FAIL_INIT
	return -ENODEV;
#endif
#if IS_ENABLED(CONFIG_CRC8)
	u8 table[CRC8_TABLE_SIZE];

	crc8_populate_msb(table, 0x07);
	pr_info("gpumux stub: crc8 table[1] = %u\n", table[1]);
#endif
	stub_dir = debugfs_create_dir("gpumux", NULL);
	debugfs_create_file("counters", 0444, stub_dir, NULL,
			    &stub_counters_fops);
	debugfs_create_file("state", 0444, stub_dir, NULL, &stub_state_fops);
	debugfs_create_file("warn", 0200, stub_dir, NULL, &stub_warn_fops);
	debugfs_create_file("leak", 0200, stub_dir, NULL, &stub_leak_fops);
	return misc_register(&stub_misc);
}

static void __exit stub_exit(void)
{
	misc_deregister(&stub_misc);
	debugfs_remove_recursive(stub_dir);
}

module_init(stub_init);
module_exit(stub_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Stand-in gpumux module for testing the VM rig");
